'use client';

import { type FormEvent, useEffect, useId, useState } from 'react';
import { api, type ChatSettings, errorMessage, type ModelInfo, type Preset } from '@/lib/api';
import { Field } from '../field';
import { FormAlert } from '../form-parts';
import { useT } from '../providers';
import { useToast } from '../toasts';
import { cachedModels } from './chat-events';

/** Model picker with provider health: a model that is down cannot be chosen. */
export function ModelPicker({
  value,
  onChange,
}: {
  value: string | undefined;
  onChange(model: string | undefined): void;
}) {
  const t = useT();
  const id = useId();
  const [models, setModels] = useState<ModelInfo[] | null>(null);
  const [failed, setFailed] = useState(false);
  useEffect(() => {
    cachedModels(() => api.models())
      .then((page) => setModels(page.items))
      .catch(() => setFailed(true));
  }, []);
  const label = (model: ModelInfo) => {
    const name = model.name ?? model.id;
    if (model.health === 'down') return t('chat.modelDown', { name });
    if (model.health === 'degraded') return t('chat.modelDegraded', { name });
    return name;
  };
  return (
    <div className="field">
      <label htmlFor={id}>{t('chat.model')}</label>
      <select
        id={id}
        className="select"
        value={value ?? ''}
        onChange={(event) => onChange(event.target.value || undefined)}
      >
        <option value="">{t('chat.defaultModel')}</option>
        {(models ?? []).map((model) => (
          <option key={model.id} value={model.id} disabled={model.health === 'down'}>
            {label(model)}
          </option>
        ))}
      </select>
      {failed ? <span className="hint">{t('chat.modelsUnavailable')}</span> : null}
    </div>
  );
}

/** Per-conversation system prompt, model and parameters; presets fill them in. */
export function SettingsPanel(props: {
  settings: ChatSettings;
  onSave(settings: ChatSettings): Promise<void>;
  onClose(): void;
}) {
  const t = useT();
  const toast = useToast();
  const [draft, setDraft] = useState<ChatSettings>(props.settings);
  const [presets, setPresets] = useState<Preset[]>([]);
  const [error, setError] = useState<string | undefined>();
  const [pending, setPending] = useState(false);
  const ids = { prompt: useId(), preset: useId() };

  useEffect(() => {
    api
      .presets()
      .then((page) => setPresets(page.items))
      .catch(() => setPresets([]));
  }, []);

  const params = draft.params ?? {};
  const setParam = (key: 'temperature' | 'maxTokens', raw: string) => {
    const value = raw === '' ? undefined : Number(raw);
    setDraft({ ...draft, params: { ...params, [key]: Number.isFinite(value) ? value : undefined } });
  };

  async function onSubmit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    if (params.temperature !== undefined && (params.temperature < 0 || params.temperature > 2)) {
      setError(t('validation.number', { min: 0, max: 2 }));
      return;
    }
    setPending(true);
    setError(undefined);
    try {
      await props.onSave(draft);
      props.onClose();
    } catch (err) {
      setError(errorMessage(err, t));
    } finally {
      setPending(false);
    }
  }

  async function saveAsPreset() {
    const name = window.prompt(t('chat.presetName'))?.trim();
    if (!name) return;
    try {
      const preset = await api.createPreset({ name, settings: draft });
      setPresets((list) => [...list, preset]);
      toast.show(t('common.saved'));
    } catch (err) {
      toast.show(errorMessage(err, t));
    }
  }

  return (
    // noValidate: the range check below says what is wrong in the reader's language, next to the buttons.
    <form className="settings-panel card form" onSubmit={onSubmit} aria-label={t('chat.settings')} noValidate>
      <h2 className="panel-title">{t('chat.settings')}</h2>
      {presets.length > 0 ? (
        <div className="field">
          <label htmlFor={ids.preset}>{t('chat.preset')}</label>
          <select
            id={ids.preset}
            className="select"
            defaultValue=""
            onChange={(event) => {
              const preset = presets.find((p) => p.id === event.target.value);
              if (preset) setDraft(preset.settings);
            }}
          >
            <option value="">{t('chat.noPreset')}</option>
            {presets.map((preset) => (
              <option key={preset.id} value={preset.id}>
                {preset.name}
              </option>
            ))}
          </select>
        </div>
      ) : null}
      <ModelPicker value={draft.model} onChange={(model) => setDraft({ ...draft, model })} />
      <div className="field">
        <label htmlFor={ids.prompt}>{t('chat.systemPrompt')}</label>
        <textarea
          id={ids.prompt}
          className="textarea"
          rows={4}
          maxLength={20000}
          value={draft.systemPrompt ?? ''}
          aria-describedby={`${ids.prompt}-hint`}
          onChange={(event) => setDraft({ ...draft, systemPrompt: event.target.value || undefined })}
        />
        <span id={`${ids.prompt}-hint`} className="hint">
          {t('chat.systemPromptHint')}
        </span>
      </div>
      <div className="row">
        <Field
          label={t('chat.temperature')}
          type="number"
          min={0}
          max={2}
          step={0.1}
          value={params.temperature ?? ''}
          onChange={(event) => setParam('temperature', event.target.value)}
        />
        <Field
          label={t('chat.maxTokens')}
          type="number"
          min={1}
          max={200000}
          step={1}
          value={params.maxTokens ?? ''}
          onChange={(event) => setParam('maxTokens', event.target.value)}
        />
      </div>
      <FormAlert message={error} />
      <div className="row">
        <button type="submit" className="btn btn-primary" disabled={pending}>
          {pending ? t('common.saving') : t('common.save')}
        </button>
        <button type="button" className="btn" onClick={saveAsPreset}>
          {t('chat.saveAsPreset')}
        </button>
        <span className="spacer" />
        <button type="button" className="btn btn-ghost" onClick={props.onClose}>
          {t('common.close')}
        </button>
      </div>
    </form>
  );
}

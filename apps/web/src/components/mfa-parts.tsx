'use client';

import { encode } from 'uqr';
import type { TotpEnrollment } from '@/lib/api';
import { CopyButton } from './copy-button';
import { Field } from './field';
import { useT } from './providers';

/**
 * Pieces of the authenticator-app (TOTP) enrolment shared by the security settings and the forced enrolment at
 * log-in (a role that requires a second factor).
 */

/** A QR code drawn as SVG rectangles from the encoded matrix (no image, no innerHTML). */
function QrCode({ text, label }: { text: string; label: string }) {
  const { data, size } = encode(text, { border: 2 });
  let path = '';
  data.forEach((row, y) => {
    row.forEach((dark, x) => {
      if (dark) path += `M${x} ${y}h1v1h-1z`;
    });
  });
  return (
    <svg className="qr" viewBox={`0 0 ${size} ${size}`} role="img" aria-label={label} shapeRendering="crispEdges">
      <rect width={size} height={size} fill="#fff" />
      <path d={path} fill="#000" />
    </svg>
  );
}

/** The 6-digit code field of the authenticator app. */
export function TotpCodeField({
  value,
  onChange,
  error,
}: {
  value: string;
  onChange(code: string): void;
  error?: string | undefined;
}) {
  const t = useT();
  return (
    <Field
      label={t('mfa.code')}
      inputMode="numeric"
      autoComplete="one-time-code"
      pattern="[0-9]{6}"
      maxLength={6}
      required
      value={value}
      error={error}
      onChange={(e) => onChange(e.target.value.trim())}
    />
  );
}

/** A fresh seed as a QR code and as text, and the field for the first code that proves the app works. */
export function TotpEnrollmentFields({
  enrollment,
  code,
  onCode,
}: {
  enrollment: TotpEnrollment;
  code: string;
  onCode(code: string): void;
}) {
  const t = useT();
  return (
    <>
      <p>{t('mfa.scan')}</p>
      <QrCode text={enrollment.otpauthUri} label={t('mfa.qrLabel')} />
      <p className="muted">
        {t('mfa.orType')} <code className="secret">{enrollment.secret}</code>{' '}
        <CopyButton text={enrollment.secret} label={t('common.copy')} />
      </p>
      <TotpCodeField value={code} onChange={onCode} />
    </>
  );
}

/** Recovery codes, shown once: copy them, then confirm to hide them for good. */
export function RecoveryCodes({ codes, onDone }: { codes: string[]; onDone(): void }) {
  const t = useT();
  return (
    <section className="recovery-codes" aria-label={t('mfa.recoveryTitle')}>
      <h3>{t('mfa.recoveryTitle')}</h3>
      <p>{t('mfa.recoveryOnce')}</p>
      <ul className="code-list">
        {codes.map((code) => (
          <li key={code}>
            <code>{code}</code>
          </li>
        ))}
      </ul>
      <div className="row">
        <CopyButton text={codes.join('\n')} label={t('common.copy')} />
        <button type="button" className="btn btn-small" onClick={onDone}>
          {t('mfa.recoverySaved')}
        </button>
      </div>
    </section>
  );
}

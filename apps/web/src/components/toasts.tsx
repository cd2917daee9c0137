'use client';

import { createContext, type ReactNode, useCallback, useContext, useMemo, useRef, useState } from 'react';
import { useT } from './providers';

interface Toast {
  id: number;
  text: string;
  action?: { label: string; run(): void } | undefined;
}

interface Toaster {
  show(text: string, options?: { action?: Toast['action']; ms?: number }): void;
}

const Context = createContext<Toaster>({ show: () => {} });

/** Short messages in a polite live region; one may carry an action (Undo). */
export function ToastProvider({ children }: { children: ReactNode }) {
  const t = useT();
  const [toasts, setToasts] = useState<Toast[]>([]);
  const next = useRef(1);
  const dismiss = useCallback((id: number) => setToasts((list) => list.filter((toast) => toast.id !== id)), []);
  const show = useCallback<Toaster['show']>(
    (text, options = {}) => {
      const id = next.current++;
      setToasts((list) => [...list.slice(-2), { id, text, action: options.action }]);
      setTimeout(() => dismiss(id), options.ms ?? 6000);
    },
    [dismiss],
  );
  const value = useMemo(() => ({ show }), [show]);
  return (
    <Context.Provider value={value}>
      {children}
      <div className="toasts" role="status" aria-live="polite">
        {toasts.map((toast) => (
          <div key={toast.id} className="toast">
            <span className="spacer">{toast.text}</span>
            {toast.action ? (
              <button
                type="button"
                className="btn btn-small"
                onClick={() => {
                  toast.action?.run();
                  dismiss(toast.id);
                }}
              >
                {toast.action.label}
              </button>
            ) : null}
            <button
              type="button"
              className="btn btn-small btn-ghost"
              aria-label={t('common.close')}
              onClick={() => dismiss(toast.id)}
            >
              ×
            </button>
          </div>
        ))}
      </div>
    </Context.Provider>
  );
}

export const useToast = () => useContext(Context);

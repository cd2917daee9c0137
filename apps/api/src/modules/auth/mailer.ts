import type { FastifyBaseLogger } from 'fastify';
import nodemailer, { type Transporter } from 'nodemailer';

export interface MailMessage {
  to: string;
  subject: string;
  text: string;
}

export interface OutboxEntry extends MailMessage {
  id: number;
  createdAt: string;
  /** 'smtp' when handed to the SMTP server, 'outbox' when kept here only. */
  delivery: 'smtp' | 'outbox' | 'failed';
}

export interface Mailer {
  /** Sends in the background; never throws and never delays the caller's answer (timing must not tell). */
  send(message: MailMessage): void;
  /** The dev outbox, newest first (admins read it at GET /api/admin/outbox). */
  outbox(): readonly OutboxEntry[];
  /** Resolves when every send started so far has finished (tests, shutdown). */
  idle(): Promise<void>;
  close(): void;
}

/**
 * Mail through SMTP (nodemailer) when SMTP_URL is set. Without it messages stay in a bounded in-memory dev outbox,
 * and the log says a message is waiting there, naming recipient and subject but never the body: bodies carry
 * one-time links, and logs are read by more people (and systems) than admins.
 */
export function createMailer(opts: {
  url?: string | undefined;
  from: string;
  outboxSize: number;
  log: FastifyBaseLogger;
}): Mailer {
  const transport: Transporter | null = opts.url ? nodemailer.createTransport(opts.url) : null;
  const box: OutboxEntry[] = [];
  const pending = new Set<Promise<void>>();
  let nextId = 1;

  function keep(entry: OutboxEntry) {
    if (opts.outboxSize === 0) return;
    box.unshift(entry);
    if (box.length > opts.outboxSize) box.length = opts.outboxSize;
  }

  return {
    send(message) {
      const entry: OutboxEntry = { ...message, id: nextId++, createdAt: new Date().toISOString(), delivery: 'outbox' };
      if (!transport) {
        keep(entry);
        opts.log.info(
          { mailTo: message.to, subject: message.subject, outboxId: entry.id },
          'mail kept in the dev outbox (no SMTP_URL); admins read it at /api/admin/outbox',
        );
        return;
      }
      const work = transport
        .sendMail({ from: opts.from, to: message.to, subject: message.subject, text: message.text })
        .then(
          () => {
            entry.delivery = 'smtp';
          },
          (err: Error) => {
            entry.delivery = 'failed';
            keep(entry);
            opts.log.warn(
              { mailTo: message.to, subject: message.subject, reason: err.message },
              'mail delivery failed; kept in the dev outbox',
            );
          },
        )
        .finally(() => pending.delete(work));
      pending.add(work);
    },
    outbox: () => box,
    async idle() {
      await Promise.all([...pending]);
    },
    close() {
      transport?.close();
    },
  };
}

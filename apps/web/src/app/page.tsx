import styles from './page.module.css';
import { SignInForm } from './sign-in-form';

const features = [
  {
    title: 'Streamed replies',
    text: 'Answers appear token by token, from OpenAI, Anthropic, Google or your own Ollama.',
  },
  { title: 'Yours to run', text: 'One command on a laptop; PostgreSQL, Redis and Kubernetes when you grow.' },
  { title: 'OpenAI-compatible API', text: 'Point any OpenAI SDK at /v1 with a personal API key.' },
];

export default function LandingPage() {
  return (
    <div className={styles.shell}>
      <header className={styles.header}>
        <span className={styles.brand}>
          <span className={styles.logo} aria-hidden="true">
            G
          </span>
          GenZ AI
        </span>
      </header>
      <main className={styles.main}>
        <section className={styles.intro} aria-labelledby="intro-title">
          <h1 id="intro-title" className={styles.title}>
            Chat with every model, on your own servers.
          </h1>
          <p className={styles.lead}>
            GenZ AI is a self-hostable chat platform and OpenAI-compatible gateway. Pick a model, ask, and watch the
            answer stream in.
          </p>
          <ul className={styles.features}>
            {features.map((feature) => (
              <li key={feature.title} className={styles.feature}>
                <strong>{feature.title}</strong>
                <span>{feature.text}</span>
              </li>
            ))}
          </ul>
        </section>
        <section className={styles.card} aria-labelledby="sign-in-title">
          <h2 id="sign-in-title" className={styles.cardTitle}>
            Sign in
          </h2>
          <p className={styles.cardLead}>Welcome back. Use the email you signed up with.</p>
          <SignInForm />
        </section>
      </main>
      <footer className={styles.footer}>Apache-2.0 · Self-hosted</footer>
    </div>
  );
}

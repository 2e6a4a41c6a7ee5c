import { StrictMode, useEffect, useState, type FormEvent } from 'react';
import { createRoot } from 'react-dom/client';
import { ApiError, call, type Session } from './api.js';
import { DaemonPage } from './daemon-page.js';
import { DaemonList } from './daemons.js';
import { useHashRoute } from './hooks.js';
import { Overview } from './overview.js';

function SignIn({ onSignedIn }: { onSignedIn: (session: Session) => void }) {
  const [secret, setSecret] = useState('');
  const [error, setError] = useState('');
  const submit = (event: FormEvent) => {
    event.preventDefault();
    call<Session>('POST', '/console/login', { secret }).then(onSignedIn, (failure: unknown) =>
      setError(failure instanceof ApiError && failure.status === 401 ? 'That key is not known.' : String(failure)),
    );
  };
  return (
    <form className="sign-in" onSubmit={submit}>
      <h1>Arbor Gateway</h1>
      <label>
        API key
        <input type="password" name="secret" autoComplete="off" value={secret} onChange={(event) => setSecret(event.target.value)} />
      </label>
      <button type="submit">Sign in</button>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
    </form>
  );
}

function App() {
  const [session, setSession] = useState<Session | null | undefined>(undefined);
  const route = useHashRoute();
  useEffect(() => {
    call<Session>('GET', '/console/session').then(setSession, () => setSession(null));
  }, []);
  if (session === undefined) return <p className="muted">Loading…</p>;
  if (session === null) return <SignIn onSignedIn={setSession} />;
  const daemonId = route.startsWith('/daemons/') ? decodeURIComponent(route.slice('/daemons/'.length)) : undefined;
  return (
    <>
      <header>
        <strong>Arbor Gateway</strong>
        <nav>
          <a href="#/">Overview</a>
          <a href="#/daemons">Daemons</a>
        </nav>
        <span className="who">
          {session.keyId} ({session.scope}) <button onClick={() => void call('POST', '/console/logout').then(() => setSession(null))}>Sign out</button>
        </span>
      </header>
      <main>
        {daemonId !== undefined ? <DaemonPage daemonId={daemonId} session={session} /> : route.startsWith('/daemons') ? <DaemonList /> : <Overview />}
      </main>
    </>
  );
}

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);

/**
 * Secrets never reach output. Two layers:
 *
 * - at the source: `config` shows URLs with their password replaced and password settings as "***",
 *   and error messages about a URL quote it redacted (`redactUrl`);
 * - as a backstop: every secret value the process was given (passwords in URLs, `*_PASSWORD` settings,
 *   the contents of `*_PASSWORD_FILE`s) is remembered, and everything the CLI writes to stdout and
 *   stderr, and every log line, has them replaced (`redact`). That catches what a library puts into an
 *   error message or a stack trace, which the first layer cannot see.
 */

export const REDACTED = '***';

/**
 * Secrets shorter than this are not searched for in free text: replacing every "ab" in the output would
 * garble it without protecting anything worth protecting. They are still never printed by `config` or in
 * URL errors, which redact by position, not by value.
 */
const MIN_SCRUBBED_LENGTH = 4;

const known = new Set<string>();

/** Remembers a secret value so that `redact` replaces it wherever it appears, in every spelling a URL may give it. */
export function rememberSecret(value: string | undefined | null): void {
  if (!value) return;
  // As given, as a URL may carry it (percent-encoded or not), and as it appears inside a JSON log line.
  for (const form of new Set([value, value.trim(), safeDecode(value), encodeURIComponent(value), JSON.stringify(value).slice(1, -1)])) {
    if (form.length >= MIN_SCRUBBED_LENGTH) known.add(form);
  }
}

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/** Names of environment variables whose whole value is a secret. */
export function isSecretName(name: string): boolean {
  return /(?:^|_)(?:PASSWORD|PASSPHRASE|SECRET|TOKEN)$/i.test(name);
}

/** The userinfo password of `scheme://user:password@host...` in free text (the URL need not parse). */
// Greedy up to the last "@" of the word: a password with an unencoded "@" is redacted whole (a host part
// that follows another "@" in the same word is redacted too, which costs nothing).
const URL_PASSWORD = /\b([a-z][a-z0-9+.-]*:\/\/[^\s/:@"']*:)([^\s"']*)@/gi;

/**
 * Remembers the secrets in an environment: values of variables named like passwords or tokens, and the
 * password of any URL in any variable. Called once when the CLI starts, before anything is printed.
 */
export function rememberSecretsFromEnv(env: NodeJS.ProcessEnv): void {
  for (const [name, value] of Object.entries(env)) {
    if (!value) continue;
    if (isSecretName(name)) rememberSecret(value);
    for (const match of value.matchAll(URL_PASSWORD)) rememberSecret(match[2]);
  }
}

/** The password of a single URL value, which may hold anything up to its last "@" when it does not parse. */
const VALUE_PASSWORD = /^([a-z][a-z0-9+.-]*:\/\/[^/:@]*:)([\s\S]*)@/i;

/**
 * A URL as it may be shown: its password (if any) replaced. Works on text that is not a valid URL too,
 * since that is exactly when an error message wants to quote it.
 */
export function redactUrl(raw: string): string {
  try {
    const url = new URL(raw);
    if (url.password) {
      rememberSecret(url.password);
    }
  } catch {
    // Not a URL: redacted by position below all the same.
  }
  // The text as given (URL would normalise it, e.g. add a trailing "/"), only the password replaced.
  return raw.replace(VALUE_PASSWORD, (_match, head: string) => `${head}${REDACTED}@`);
}

/** Text with every remembered secret, and any URL password, replaced. */
export function redact(text: string): string {
  let out = text.replace(URL_PASSWORD, (_match, head: string) => `${head}${REDACTED}@`);
  if (known.size === 0) return out;
  // Longest first, so a secret containing another is replaced whole.
  for (const secret of [...known].sort((a, b) => b.length - a.length)) {
    if (out.includes(secret)) out = out.split(secret).join(REDACTED);
  }
  return out;
}

let installed = false;

/**
 * Routes everything the process writes to stdout and stderr through `redact`. The CLI installs this
 * first thing, so a library's error message or a stack trace that quotes a secret is scrubbed too.
 */
export function redactProcessOutput(): void {
  if (installed) return;
  installed = true;
  for (const stream of [process.stdout, process.stderr]) {
    const write = stream.write.bind(stream) as (chunk: unknown, ...rest: unknown[]) => boolean;
    stream.write = ((chunk: unknown, ...rest: unknown[]) => {
      const text = typeof chunk === 'string' ? chunk : Buffer.isBuffer(chunk) || chunk instanceof Uint8Array ? Buffer.from(chunk).toString('utf8') : null;
      // A string in another encoding (hex, base64) is not text we could search; it is passed on as is.
      const encoded = typeof chunk === 'string' && typeof rest[0] === 'string' && !/^utf-?8$/i.test(rest[0]);
      return text === null || encoded ? write(chunk, ...rest) : write(redact(text), ...rest);
    }) as typeof stream.write;
  }
}

const HTML_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (character) => HTML_ESCAPES[character] ?? character);
}

export interface SignInPageOptions {
  signInAction: string;
  signOutAction: string;
  dashboard: string;
  /** Shown above the form after a refused attempt. */
  message?: string;
}

/** The dashboard's sign-in form: self-contained (no script, no external resource). */
export function renderSignInPage(options: SignInPageOptions): string {
  const message =
    options.message === undefined
      ? ''
      : `<p role="alert" class="message">${escapeHtml(options.message)}</p>`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Queue dashboard: sign in</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 22rem; margin: 4rem auto; padding: 0 1rem; }
label, input, button { display: block; width: 100%; box-sizing: border-box; }
input { margin: 0.25rem 0 1rem; padding: 0.5rem; }
button { padding: 0.5rem; }
.message { color: #a00; }
.secondary { margin-top: 2rem; }
</style>
</head>
<body>
<h1>Queue dashboard</h1>
<p>Admins only. The sign-in lasts 15 minutes.</p>
${message}
<form method="post" action="${escapeHtml(options.signInAction)}">
<label for="email">Email</label>
<input id="email" name="email" type="email" autocomplete="username" required maxlength="254">
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required maxlength="128">
<button type="submit">Sign in</button>
</form>
<form class="secondary" method="post" action="${escapeHtml(options.signOutAction)}">
<p><a href="${escapeHtml(options.dashboard)}">Open the dashboard</a></p>
<button type="submit">Sign out</button>
</form>
</body>
</html>
`;
}

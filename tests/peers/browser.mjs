import { chromium } from 'playwright-core';

// Headless Chromium (Debian's) trusting the dev certificate by the base64
// SHA-256 of its public key (`spki`).
export function launchChromium(spki) {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--no-first-run', `--ignore-certificate-errors-spki-list=${spki}`],
  });
}

// A minimal browser for the login pages: a cookie jar, manual redirects (so every
// hop is visible) and hidden-field forms. Shared by the interop scripts.
export class Browser {
  constructor() { this.cookies = new Map(); }
  cookieHeader() { return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; '); }
  remember(response) {
    for (const line of response.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';');
      const [name, value] = pair.split('=');
      const expired = attrs.some((a) => a.trim().toLowerCase() === 'max-age=0');
      if (expired) this.cookies.delete(name.trim()); else this.cookies.set(name.trim(), value);
    }
  }
  async request(url, init = {}) {
    const response = await fetch(url, { ...init, redirect: 'manual', headers: { ...(init.headers || {}), cookie: this.cookieHeader() } });
    this.remember(response);
    return response;
  }
  // Follows redirects on this origin; stops at (and returns) a redirect elsewhere.
  async follow(url, init, stopPrefix) {
    let response = await this.request(url, init);
    while ([301, 302, 303, 307].includes(response.status)) {
      const next = new URL(response.headers.get('location'), url).href;
      if (next.startsWith(stopPrefix)) return { redirectedTo: next };
      url = next;
      response = await this.request(url);
    }
    return { response, url, html: await response.text() };
  }
}

export function formFields(html) {
  const action = html.match(/<form[^>]*action="([^"]+)"/)[1];
  const fields = {};
  for (const m of html.matchAll(/<input[^>]*type="hidden"[^>]*name="([^"]+)"[^>]*value="([^"]*)"/g)) fields[m[1]] = m[2];
  return { action, fields };
}

export async function submit(browser, page, values, stopPrefix) {
  const { action, fields } = formFields(page.html);
  const body = new URLSearchParams({ ...fields, ...values });
  return browser.follow(new URL(action, page.url).href, {
    method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded' },
  }, stopPrefix);
}


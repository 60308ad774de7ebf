// Starts the real remit binary (sandbox mode, fresh SQLite database) and Debian's Chromium.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
export const screenshotDir = join(here, '..', 'screenshots');

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function waitForReady(url, child) {
  for (let attempt = 0; attempt < 600; attempt++) {
    if (child.exitCode !== null) throw new Error(`remit exited with ${child.exitCode}`);
    try {
      const response = await fetch(`${url}/readyz`);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('remit did not become ready');
}

export async function startRemit(extraEnv = {}) {
  const bin = process.env.REMIT_BIN;
  if (!bin) throw new Error('REMIT_BIN must name the built remit binary');
  const dir = mkdtempSync(join(tmpdir(), 'remit-e2e-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(bin, ['serve'], {
    cwd: dir,
    env: {
      PATH: process.env.PATH,
      REMIT_BIND: `127.0.0.1:${port}`,
      REMIT_PUBLIC_URL: url,
      DATABASE_URL: `sqlite://${join(dir, 'remit.db')}`,
      REMIT_MAIL_DIR: join(dir, 'mail'),
      ...extraEnv,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  let stdout = '';
  child.stderr.on('data', (chunk) => { stderr += chunk; });
  child.stdout.on('data', (chunk) => { stdout += chunk; });
  await waitForReady(url, child);
  return {
    url,
    dir,
    logs: () => stderr,
    /** The Stripe stand-in's test dashboard, as start-up logs it. */
    stripeDashboard: () => (stdout + stderr).match(/stripe_dashboard=(http:\/\/127\.0\.0\.1:\d+\/test\/dashboard)/)?.[1],
    /** The API key of the example curl a first sandbox run prints. */
    apiKey: () => stdout.match(/Bearer (remit_[A-Za-z0-9]+)/)?.[1],
    async stop() {
      child.kill('SIGTERM');
      await new Promise((resolve) => (child.exitCode !== null ? resolve() : child.once('exit', resolve)));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function launchChromium() {
  const userDataDir = mkdtempSync(join(tmpdir(), 'remit-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    headless: true,
    // Remit's CSP allows no script at all; the accessibility checker is injected past it.
    bypassCSP: true,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}

export const viewports = {
  desktop: { width: 1280, height: 800 },
  phone: { width: 360, height: 740 },
};

const axePath = createRequire(import.meta.url).resolve('axe-core/axe.min.js');

/** Runs axe-core on the page; returns its violations (WCAG 2.x A and AA rules). */
export async function accessibilityViolations(page) {
  await page.addScriptTag({ path: axePath });
  const results = await page.evaluate(() =>
    window.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } }));
  return results.violations.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`);
}

/** Asks the running Remit for a payment link, as Salesforce would. */
export async function createLink(remit, body) {
  const response = await fetch(`${remit.url}/api/v1/payment-links`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${remit.apiKey()}`, 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`link request answered ${response.status}`);
  return response.json();
}

/** A real SMTP server on loopback (Python's aiosmtpd from the test venv), keeping mail in a Maildir. */
export async function startSmtp() {
  const python = process.env.REMIT_TEST_PYTHON || join(here, '..', '..', '.venv', 'bin', 'python');
  const dir = mkdtempSync(join(tmpdir(), 'remit-smtp-'));
  const port = await freePort();
  const child = spawn(python, ['-m', 'aiosmtpd', '-n', '-l', `127.0.0.1:${port}`, '-c', 'aiosmtpd.handlers.Mailbox', join(dir, 'box')], { stdio: 'ignore' });
  for (let attempt = 0; attempt < 200; attempt++) {
    const listening = await new Promise((resolve) => {
      const socket = connect(port, '127.0.0.1', () => { socket.end(); resolve(true); });
      socket.on('error', () => resolve(false));
    });
    if (listening) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url: `smtp://127.0.0.1:${port}`,
    /** Every message received so far, as raw text. */
    messages() {
      try {
        const box = join(dir, 'box', 'new');
        return readdirSync(box).map((name) => readFileSync(join(box, name), 'utf8'));
      } catch {
        return [];
      }
    },
    /** The first message whose subject starts with `subject` (and, if given, that names `to`), decoded from quoted-printable. */
    async waitForMail(subject, to = '') {
      for (let attempt = 0; attempt < 200; attempt++) {
        const found = this.messages().find((m) => m.includes(`Subject: ${subject}`) && m.includes(to));
        if (found) return found.replace(/=\r?\n/g, '').replace(/=3D/g, '=');
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`no mail with subject ${subject}`);
    },
    stop() {
      child.kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Signs a payer in on `page` from the link Remit emails them; ends on their account page. */
export async function signInAsPayer(page, remit, smtp, email) {
  await page.goto(`${remit.url}/account/sign-in`);
  await page.getByLabel('Email address').fill(email);
  await page.getByRole('button', { name: 'Email me a sign-in link' }).click();
  await page.waitForURL(/sent=1/);
  const mail = await smtp.waitForMail('Sign in to see your payments', email);
  await page.goto(mail.match(/http:\/\/127\.0\.0\.1:\d+\/account\/sign-in\/[0-9a-f]{64}/)[0]);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(`${remit.url}/account`);
}

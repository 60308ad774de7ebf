import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startRemit, launchChromium, screenshotDir, viewports } from './support.js';

let remit;
let browser;

before(async () => {
  remit = await startRemit();
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await remit?.stop();
});

async function waitForEmail() {
  const dir = join(remit.dir, 'mail');
  for (let attempt = 0; attempt < 200; attempt++) {
    const files = (() => { try { return readdirSync(dir); } catch { return []; } })();
    if (files.length) return readFileSync(join(dir, files[0]), 'utf8');
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('no email was written');
}

test('a link asked for by Salesforce is emailed, opens the pay page, and leads to Checkout', async () => {
  const key = remit.apiKey();
  assert.ok(key, 'the first sandbox run printed an API key');
  const response = await fetch(`${remit.url}/api/v1/payment-links`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({
      opportunity_id: '0065g00000AbCdE', account_id: '0015g00000XyZaB', amount: '125.00', currency: 'USD',
      description: 'Annual membership', payer_email: 'ana@example.com', payer_name: 'Ana Lima', send_email: true,
    }),
  });
  assert.equal(response.status, 201);
  const { url } = await response.json();

  const email = (await waitForEmail()).replace(/=\r?\n/g, '').replace(/=3D/g, '=');
  assert.ok(email.includes(url), 'the emailed link is the link the API answered');

  const page = await browser.context.newPage();
  for (const [name, size] of Object.entries(viewports)) {
    await page.setViewportSize(size);
    await page.goto(url);
    assert.equal(await page.title(), 'Pay Remit · Remit');
    assert.equal(await page.locator('.amount').innerText(), '125.00 USD');
    await page.screenshot({ path: join(screenshotDir, `pay-${name}.png`), fullPage: true });
  }

  await page.getByRole('button', { name: 'Pay securely' }).click();
  await page.waitForURL(/\/c\/pay\/cs_test_/);
  assert.match(await page.locator('body').innerText(), /125\.00 USD/);
  await page.screenshot({ path: join(screenshotDir, 'sandbox-checkout-phone.png'), fullPage: true });

  // The Opportunity in the Salesforce stand-in now shows the pending payment and its link.
  await page.setViewportSize(viewports.desktop);
  let shown = '';
  for (let attempt = 0; attempt < 100 && !shown.includes(url); attempt++) {
    await page.goto(`${remit.url}/sandbox/salesforce`);
    shown = await page.locator('table').first().innerText();
    if (!shown.includes(url)) await new Promise((r) => setTimeout(r, 100));
  }
  assert.match(shown, /Pending/);
  assert.ok(shown.includes(url), 'the Opportunity carries the pay link');
  await page.screenshot({ path: join(screenshotDir, 'sandbox-salesforce-desktop.png'), fullPage: true });
  await page.close();
});

test('the pay button works from the keyboard', async () => {
  const page = await browser.context.newPage();
  const key = remit.apiKey();
  const response = await fetch(`${remit.url}/api/v1/payment-links`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ opportunity_id: '0065g00000KeYbD', amount: 40, currency: 'EUR', payer_email: 'bo@example.com' }),
  });
  const { url } = await response.json();
  await page.goto(url);
  // Skip link, sandbox notice link, brand link, then the button.
  const focused = [];
  for (let presses = 0; presses < 4; presses++) {
    await page.keyboard.press('Tab');
    focused.push(await page.evaluate(() => document.activeElement?.textContent));
  }
  assert.deepEqual(focused, ['Skip to content', 'See what reached Salesforce', 'Remit', 'Pay securely']);
  await page.keyboard.press('Enter');
  await page.waitForURL(/\/c\/pay\/cs_test_/);
  await page.close();
});

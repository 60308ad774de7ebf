import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startRemit, launchChromium, screenshotDir, viewports, createLink } from './support.js';

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

/** The payment as Salesforce reads it from Remit's API. */
async function payment(id) {
  const response = await fetch(`${remit.url}/api/v1/payments/${id}`, { headers: { Authorization: `Bearer ${remit.apiKey()}` } });
  return response.json();
}

test('an invoice asked for by Salesforce is paid on its hosted page, after a declined card', async () => {
  const link = await createLink(remit, {
    opportunity_id: '0065g0000Inv001', account_id: '0015g00000XyZaB', amount: '480.00', currency: 'EUR',
    description: 'Consulting, November', payer_email: 'ap@example.com', collection: 'invoice', days_until_due: 14,
  });
  assert.match(link.url, /\/i\/in_[A-Za-z0-9]+$/, 'the link is the hosted invoice page');

  const page = await browser.context.newPage();
  await page.goto(link.url);
  assert.match(await page.locator('body').innerText(), /480\.00 EUR/);
  for (const [name, size] of Object.entries(viewports)) {
    await page.setViewportSize(size);
    await page.screenshot({ path: join(screenshotDir, `invoice-${name}.png`), fullPage: true });
  }
  await page.getByRole('button', { name: 'Pay with card •••• 0002 (declined)' }).click();
  await page.getByRole('alert').filter({ hasText: 'Your card was declined.' }).waitFor();
  await page.getByRole('button', { name: 'Pay with card •••• 4242 (succeeds)' }).click();
  await page.getByRole('status').filter({ hasText: 'This invoice has been paid.' }).waitFor();

  let seen;
  for (let attempt = 0; attempt < 200; attempt++) {
    seen = await payment(link.payment_id);
    if (seen.status === 'paid') break;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(seen.status, 'paid', 'Remit heard the invoice paid');
  assert.ok(seen.receipt_url, 'and made its receipt');
  await page.close();
});

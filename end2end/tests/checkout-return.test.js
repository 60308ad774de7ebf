import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { startRemit, launchChromium, screenshotDir, viewports, accessibilityViolations, createLink } from './support.js';

let remit;
let browser;
let opportunity = 0;

before(async () => {
  remit = await startRemit();
  browser = await launchChromium();
});

after(async () => {
  if (process.env.REMIT_E2E_LOGS) console.error(remit?.logs());
  await browser?.close();
  await remit?.stop();
});

function linkRequest() {
  opportunity += 1;
  const id = `0065g0000E2E${String(opportunity).padStart(3, '0')}`;
  return { opportunity_id: id, amount: '125.00', currency: 'USD', description: 'Annual membership', payer_email: 'ana@example.com', payer_name: 'Ana Lima' };
}

/** Both widths: a screenshot each, and no accessibility violation. */
async function record(page, name) {
  for (const [width, size] of Object.entries(viewports)) {
    await page.setViewportSize(size);
    await page.reload();
    await page.screenshot({ path: join(screenshotDir, `${name}-${width}.png`), fullPage: true });
  }
  assert.deepEqual(await accessibilityViolations(page), [], `${name} has accessibility violations`);
}

async function payWith(page, button) {
  await page.getByRole('button', { name: 'Pay securely' }).click();
  await page.waitForURL(/\/c\/pay\/cs_test_/);
  await page.getByRole('button', { name: button }).click();
}

test('pay with a good card and land on the success page', async () => {
  const { url } = await createLink(remit, linkRequest());
  const page = await browser.context.newPage();
  await page.goto(url);
  await record(page, 'pay');
  await payWith(page, 'Pay with card •••• 4242 (succeeds)');
  await page.waitForURL(/\/success\?session_id=cs_test_/);
  assert.equal(await page.locator('h1').innerText(), 'Thank you — your payment was received');
  assert.equal(await page.locator('.amount').innerText(), '$125.00');
  await record(page, 'success-paid');

  // The receipt downloads from the success page as a PDF; its first page is kept as an image.
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('link', { name: 'Download receipt (PDF)' }).click(),
  ]);
  assert.match(download.suggestedFilename(), /^receipt-REMIT-\d{6}\.pdf$/);
  const pdf = join(remit.dir, download.suggestedFilename());
  await download.saveAs(pdf);
  assert.equal(readFileSync(pdf).subarray(0, 5).toString(), '%PDF-');
  execFileSync('pdftoppm', ['-png', '-r', '80', '-singlefile', pdf, join(screenshotDir, 'receipt')]);
  await page.close();
});

test('a declined card, then try again and pay', async () => {
  const { url } = await createLink(remit, linkRequest());
  const page = await browser.context.newPage();
  await page.goto(url);
  await payWith(page, 'Pay with card •••• 0002 (declined)');
  assert.match(await page.locator('.error').innerText(), /declined/);
  // Back to the merchant's pay link, as a payer would from their email.
  await page.goto(url);
  await payWith(page, 'Pay with card •••• 4242 (succeeds)');
  await page.waitForURL(/\/success/);
  assert.equal(await page.locator('h1').innerText(), 'Thank you — your payment was received');
  await page.close();
});

test('go back from Checkout, see the cancel page, and try again', async () => {
  const { url } = await createLink(remit, linkRequest());
  const page = await browser.context.newPage();
  await page.goto(url);
  await page.getByRole('button', { name: 'Pay securely' }).click();
  await page.waitForURL(/\/c\/pay\/cs_test_/);
  const checkoutUrl = page.url();
  await page.getByRole('link', { name: '← Back' }).click();
  await page.waitForURL(/\/cancel\?session_id=cs_test_/);
  assert.equal(await page.locator('h1').innerText(), 'Payment not completed');
  assert.equal(await page.locator('.amount').innerText(), '$125.00');
  await record(page, 'cancel');
  await page.getByRole('link', { name: 'Try again' }).click();
  await page.waitForURL(url);
  await page.getByRole('button', { name: 'Pay securely' }).click();
  await page.waitForURL(/\/c\/pay\/cs_test_/);
  assert.equal(page.url(), checkoutUrl, 'the open Checkout session is reused');
  await page.close();
});

test('a bank debit shows the confirming page until it settles', async () => {
  const { url } = await createLink(remit, linkRequest());
  const page = await browser.context.newPage();
  await page.goto(url);
  await payWith(page, 'Pay by bank debit (settles in a few seconds)');
  await page.waitForURL(/\/success/);
  assert.equal(await page.locator('h1').innerText(), 'We are confirming your payment');
  await page.screenshot({ path: join(screenshotDir, 'success-processing-phone.png'), fullPage: true });
  assert.deepEqual(await accessibilityViolations(page), []);
  // The page refreshes itself (no script) until the debit settles.
  await page.waitForFunction(() => document.querySelector('h1')?.textContent === 'Thank you — your payment was received', null, { timeout: 20000 });
  await page.close();
});

test('the home and 404 pages have no accessibility violations', async () => {
  const page = await browser.context.newPage();
  await page.goto(remit.url + '/');
  assert.deepEqual(await accessibilityViolations(page), []);
  await page.goto(remit.url + '/no/such/page');
  assert.deepEqual(await accessibilityViolations(page), []);
  await page.close();
});

test('a donation link with its own message is paid through a Donate button', async () => {
  const { url } = await createLink(remit, { ...linkRequest(), submit_type: 'donate', custom_text: 'Thank you for supporting our shelter.' });
  const page = await browser.context.newPage();
  await page.goto(url);
  await page.getByRole('button', { name: 'Pay securely' }).click();
  await page.waitForURL(/\/c\/pay\/cs_test_/);
  assert.match(await page.locator('.custom-text').innerText(), /Thank you for supporting our shelter\./);
  await page.screenshot({ path: join(screenshotDir, 'sandbox-checkout-donate.png'), fullPage: true });
  await page.getByRole('button', { name: 'Donate with card •••• 4242 (succeeds)' }).click();
  await page.waitForURL(/\/success\?session_id=cs_test_/);
  assert.equal(await page.locator('h1').innerText(), 'Thank you — your payment was received');
});

test('an expired link says so, offers no button, and is accessible', async () => {
  const soon = new Date(Date.now() + 1000).toISOString();
  const { url } = await createLink(remit, { ...linkRequest(), expires_at: soon });
  const page = await browser.context.newPage();
  for (let attempt = 0; attempt < 200; attempt++) {
    const response = await page.goto(url);
    if (response.status() === 410) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(await page.locator('h1').innerText(), 'This payment link has expired');
  assert.equal(await page.getByRole('button', { name: 'Pay securely' }).count(), 0);
  await record(page, 'pay-expired');
});

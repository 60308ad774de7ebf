import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { startRemit, startSmtp, launchChromium, screenshotDir, viewports, accessibilityViolations, createLink, signInAsPayer } from './support.js';

let smtp;
let remit;
let browser;

before(async () => {
  smtp = await startSmtp();
  remit = await startRemit({ SMTP_URL: smtp.url, MAIL_FROM: 'Remit <payments@remit.test>' });
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await remit?.stop();
  smtp?.stop();
});

test('a payer signs in from an emailed link, sees their payments, downloads a receipt and signs out', async () => {
  // A paid payment and an open one for the same payer.
  const paid = await createLink(remit, { opportunity_id: '0065g0000Acct01', amount: '125.00', currency: 'USD', description: 'Annual membership', payer_email: 'ana@example.com', payer_name: 'Ana Lima' });
  await createLink(remit, { opportunity_id: '0065g0000Acct02', amount: '40.00', currency: 'EUR', description: 'Workshop ticket', payer_email: 'ana@example.com' });
  const page = await browser.context.newPage();
  await page.goto(paid.url);
  await page.getByRole('button', { name: 'Pay securely' }).click();
  await page.getByRole('button', { name: 'Pay with card •••• 4242 (succeeds)' }).click();
  await page.waitForURL(/\/success/);

  await page.goto(`${remit.url}/account/sign-in`);
  assert.deepEqual(await accessibilityViolations(page), []);
  await page.getByLabel('Email address').fill('ana@example.com');
  await page.getByRole('button', { name: 'Email me a sign-in link' }).click();
  await page.waitForURL(/sent=1/);
  assert.match(await page.locator('.notice').innerText(), /Check your inbox/);
  for (const [name, size] of Object.entries(viewports)) {
    await page.setViewportSize(size);
    await page.screenshot({ path: join(screenshotDir, `sign-in-${name}.png`), fullPage: true });
  }

  const mail = await smtp.waitForMail('Sign in to see your payments');
  const link = mail.match(/http:\/\/127\.0\.0\.1:\d+\/account\/sign-in\/[0-9a-f]{64}/)[0];
  await page.goto(link);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(`${remit.url}/account`);
  assert.match(await page.locator('main').innerText(), /Signed in as ana@example\.com/);
  assert.equal(await page.locator('li.payment').count(), 2);
  assert.deepEqual(await accessibilityViolations(page), []);
  for (const [name, size] of Object.entries(viewports)) {
    await page.setViewportSize(size);
    await page.reload();
    await page.screenshot({ path: join(screenshotDir, `account-${name}.png`), fullPage: true });
  }

  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('link', { name: 'Download receipt' }).click(),
  ]);
  assert.match(download.suggestedFilename(), /^receipt-REMIT-\d{6}\.pdf$/);
  assert.equal(await page.getByRole('link', { name: 'Pay now' }).count(), 1, 'the open payment can be paid');

  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL(/\/account\/sign-in$/);
  await page.goto(`${remit.url}/account`);
  await page.waitForURL(/\/account\/sign-in$/);
  await page.close();
});

test('a refunded payment shows its credit note in the account, which downloads, all axe-clean', async () => {
  const paid = await createLink(remit, { opportunity_id: '0065g0000Acct03', amount: '80.00', currency: 'USD', description: 'Conference pass', payer_email: 'rui@example.com', payer_name: 'Rui Costa' });
  const page = await browser.context.newPage();
  await page.goto(paid.url);
  await page.getByRole('button', { name: 'Pay securely' }).click();
  await page.getByRole('button', { name: 'Pay with card •••• 4242 (succeeds)' }).click();
  await page.waitForURL(/\/success/);

  // Salesforce asks for a partial refund; the credit note arrives by mail.
  const response = await fetch(`${remit.url}/api/v1/payments/${paid.payment_id}/refunds`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${remit.apiKey()}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ amount: '30.00', reason: 'requested_by_customer' }),
  });
  assert.equal(response.status, 201);
  const note = await smtp.waitForMail('Remit refunded 30.00 USD: credit note', 'rui@example.com');
  const number = note.match(/credit note (REMIT-CN-\d{6})/)[1];

  await signInAsPayer(page, remit, smtp, 'rui@example.com');
  assert.match(await page.locator('li.payment').innerText(), /Partially refunded[\s\S]*Refunded 30\.00 USD/);
  assert.deepEqual(await accessibilityViolations(page), []);
  for (const [name, size] of Object.entries(viewports)) {
    await page.setViewportSize(size);
    await page.reload();
    await page.screenshot({ path: join(screenshotDir, `account-refunded-${name}.png`), fullPage: true });
  }

  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('link', { name: `Download credit note ${number}` }).click(),
  ]);
  assert.equal(download.suggestedFilename(), `credit-note-${number}.pdf`);
  const pdf = join(remit.dir, download.suggestedFilename());
  await download.saveAs(pdf);
  assert.ok(readFileSync(pdf).subarray(0, 5).equals(Buffer.from('%PDF-')), 'a PDF arrives');
  await page.close();
});

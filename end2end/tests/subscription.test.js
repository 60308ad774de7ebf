import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
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

/** Reloads `page` until `locator` says `pattern` (Remit applies Stripe's webhooks in the background). */
async function untilShown(page, locator, pattern) {
  for (let attempt = 0; attempt < 100; attempt++) {
    if (pattern.test(await page.locator(locator).innerText())) return;
    await new Promise((r) => setTimeout(r, 100));
    await page.reload();
  }
  assert.match(await page.locator(locator).innerText(), pattern);
}

test('a monthly subscription starts in Checkout, renews twice and is canceled from the account view\'s portal', async () => {
  const link = await createLink(remit, {
    opportunity_id: '0065g0000Sub001', account_id: '0015g00000XyZaB', amount: '20.00', currency: 'USD',
    description: 'Monthly support plan', payer_email: 'mia@example.com', payer_name: 'Mia Chen',
    recurring: { interval: 'month' },
  });
  const page = await browser.context.newPage();
  await page.goto(link.url);
  assert.match(await page.locator('dl.summary').innerText(), /Billed\s+Every month, until you cancel/);
  assert.deepEqual(await accessibilityViolations(page), []);
  for (const [name, size] of Object.entries(viewports)) {
    await page.setViewportSize(size);
    await page.screenshot({ path: join(screenshotDir, `pay-subscription-${name}.png`), fullPage: true });
  }
  await page.getByRole('button', { name: 'Pay securely' }).click();
  await page.getByText('20.00 USD per month').waitFor();
  await page.getByRole('button', { name: 'Subscribe with card •••• 4242 (succeeds)' }).click();
  await page.waitForURL(/\/success/);

  // Stripe's clock, twice: each renewal's invoice is paid.
  const dashboard = remit.stripeDashboard();
  assert.ok(dashboard, 'start-up names the Stripe stand-in\'s dashboard');
  for (let renewal = 0; renewal < 2; renewal++) {
    await page.goto(dashboard);
    await page.getByRole('button', { name: /^Renew sub_\w+ now: the invoice is paid$/ }).click();
    await page.waitForURL(dashboard);
  }

  await signInAsPayer(page, remit, smtp, 'mia@example.com');
  // The first payment and two renewals, each with its receipt.
  await untilShown(page, 'main', /(Download receipt[\s\S]*){3}/);
  const subscription = page.locator('li.subscription');
  assert.match(await subscription.innerText(), /Monthly support plan[\s\S]*20\.00 USD every month[\s\S]*Active · Next payment/);
  assert.deepEqual(await accessibilityViolations(page), []);
  for (const [name, size] of Object.entries(viewports)) {
    await page.setViewportSize(size);
    await page.reload();
    await page.screenshot({ path: join(screenshotDir, `account-subscription-${name}.png`), fullPage: true });
  }

  await page.getByRole('button', { name: 'Manage subscription: Monthly support plan' }).click();
  await page.getByRole('button', { name: 'Cancel subscription' }).click();
  await page.getByText('Your subscription has been canceled.').waitFor();
  await page.getByRole('link', { name: 'Return to the merchant' }).click();
  await page.waitForURL(`${remit.url}/account`);
  await untilShown(page, 'li.subscription', /Canceled/);
  assert.equal(await page.getByRole('button', { name: /^Manage subscription/ }).count(), 0, 'an ended subscription has nothing to manage');

  // Salesforce's view, through the API Salesforce reads: the link payment paid.
  const response = await fetch(`${remit.url}/api/v1/payments/${link.payment_id}`, { headers: { Authorization: `Bearer ${remit.apiKey()}` } });
  assert.equal((await response.json()).status, 'paid');
  await page.close();
});

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { startRemit, startSmtp, launchChromium, screenshotDir, viewports, accessibilityViolations, createLink } from './support.js';

let smtp;
let remit;
let browser;

before(async () => {
  smtp = await startSmtp();
  remit = await startRemit({ SMTP_URL: smtp.url, MAIL_FROM: 'Remit <payments@remit.test>', REMIT_OPERATORS: 'ops@example.com' });
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await remit?.stop();
  smtp?.stop();
});

/** Checks the page with axe-core and screenshots it at each viewport. */
async function checkPage(page, name) {
  assert.deepEqual(await accessibilityViolations(page), [], `${name} is axe-clean`);
  for (const [size, viewport] of Object.entries(viewports)) {
    await page.setViewportSize(viewport);
    await page.screenshot({ path: join(screenshotDir, `ops-${name}-${size}.png`), fullPage: true });
  }
  await page.setViewportSize(viewports.desktop);
}

test('an operator signs in, finds a payment by email, replays a dead letter and downloads the CSV', async () => {
  // A paid payment whose Opportunity the org does not have: its sync to Salesforce fails for
  // good and becomes a dead letter.
  const paid = await createLink(remit, { opportunity_id: '0065g0000OpsE01', amount: '125.00', currency: 'USD', description: 'Annual membership', payer_email: 'lena@example.com', payer_name: 'Lena Park' });
  await createLink(remit, { opportunity_id: '0065g0000OpsE02', amount: '5000', currency: 'JPY', description: 'Workshop', payer_email: 'kenji@example.com' });
  const page = await browser.context.newPage();
  await page.goto(paid.url);
  await page.getByRole('button', { name: 'Pay securely' }).click();
  await page.getByRole('button', { name: 'Pay with card •••• 4242 (succeeds)' }).click();
  await page.waitForURL(/\/success/);

  // The console sends anyone not signed in to its sign-in page.
  await page.goto(`${remit.url}/ops`);
  assert.match(await page.locator('main').innerText(), /Sign in/);
  await page.goto(`${remit.url}/ops/sign-in`);
  await checkPage(page, 'sign-in');
  await page.getByLabel('Operator email address').fill('ops@example.com');
  await page.getByRole('button', { name: 'Email me a sign-in link' }).click();
  await page.waitForURL(/sent=1/);
  assert.match(await page.locator('.notice').innerText(), /Check your inbox/);
  const mail = await smtp.waitForMail('Sign in to Remit operations');
  await page.goto(mail.match(/http:\/\/127\.0\.0\.1:\d+\/ops\/sign-in\/[0-9a-f]{64}/)[0]);
  await checkPage(page, 'sign-in-confirm');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(`${remit.url}/ops`);
  assert.match(await page.locator('.ops-who').innerText(), /Signed in as ops@example\.com \(admin\)/);
  await checkPage(page, 'overview');

  // Found by the payer's email, typed as people type it.
  await page.getByRole('link', { name: 'Payments', exact: true }).click();
  await page.getByLabel('Search').fill('Lena@Example.com');
  await page.getByRole('button', { name: 'Show' }).click();
  await page.waitForURL(/q=Lena/);
  const rows = page.locator('tbody tr');
  assert.equal(await rows.count(), 1, 'one payment is Lena’s');
  assert.match(await rows.innerText(), /lena@example\.com[\s\S]*Paid/i);
  await checkPage(page, 'payments');

  // Its CSV: the same filter, a download of its own.
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('link', { name: 'Download these payments as CSV' }).click(),
  ]);
  assert.match(download.suggestedFilename(), /^remit-payments-\d{4}-\d{2}-\d{2}\.csv$/);
  const csv = join(remit.dir, download.suggestedFilename());
  await download.saveAs(csv);
  const lines = readFileSync(csv, 'utf8').trimEnd().split('\r\n');
  assert.equal(lines.length, 2, 'a header and Lena’s payment');
  assert.match(lines[1], /lena@example\.com/);
  assert.match(lines[1], /125\.00,USD|USD,125\.00/);

  await rows.getByRole('link').first().click();
  await page.waitForURL(new RegExp(`/ops/payments/${paid.payment_id}$`));
  assert.match(await page.locator('main').innerText(), /Timeline/);
  await checkPage(page, 'payment');

  // The dead letter: the syncs that found no Opportunity. The overview tells when the queue has
  // settled: the payment paid, no sync waiting, one dead for each payment.
  await page.getByRole('link', { name: 'Overview' }).click();
  const syncs = page.locator('table').filter({ hasText: 'Jobs by class' }).locator('tbody tr')
    .filter({ has: page.getByRole('cell', { name: 'sync', exact: true }) });
  const settled = async () => (await syncs.locator('td').allInnerTexts()).slice(0, 5).join(' ') === 'sync 0 0 0 2'
    && /Paid\s+USD\s+1\b/i.test(await page.locator('main').innerText());
  for (let attempt = 0; attempt < 200 && !(await settled()); attempt++) {
    await new Promise((r) => setTimeout(r, 100));
    await page.reload();
  }
  assert.ok(await settled(), `the queue settles: ${await syncs.innerText()}`);
  await page.getByRole('link', { name: 'Dead letters' }).click();
  const dead = page.locator('li.dead-letter').filter({ hasText: paid.payment_id });
  assert.equal(await dead.count(), 1, 'the failing syncs of the paid payment are one dead letter');
  assert.match(await dead.innerText(), /does not exist/);
  await checkPage(page, 'dead-letters');
  const job = (await dead.locator('strong').innerText()).match(/Job (\d+)/)[1];
  await dead.getByRole('button', { name: `Replay job ${job}` }).click();
  await page.waitForURL(/\/ops\/outbox$/);
  assert.equal(await page.locator('.notice').innerText(), `Job ${job} is back in the queue.`);

  await page.getByRole('link', { name: 'Finance' }).click();
  assert.match(await page.locator('main').innerText(), /USD/);
  await checkPage(page, 'finance');

  await page.getByRole('link', { name: 'API keys' }).click();
  await page.getByLabel('Name of the new key').fill('Salesforce staging');
  await page.getByRole('button', { name: 'Create a key' }).click();
  await page.waitForURL(/\/ops\/api-keys$/);
  const key = (await page.locator('.new-key code').innerText()).trim();
  assert.match(key, /^remit_[A-Za-z0-9]+$/);
  await checkPage(page, 'api-keys');
  await page.reload();
  assert.equal(await page.locator('.new-key').count(), 0, 'a new key is shown once');

  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL(/\/ops\/sign-in$/);
  await page.close();
});

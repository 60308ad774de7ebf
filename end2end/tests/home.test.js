import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
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

test('the home page shows the brand and sandbox mode, at desktop and phone widths', async () => {
  const page = await browser.context.newPage();
  for (const [name, size] of Object.entries(viewports)) {
    await page.setViewportSize(size);
    const response = await page.goto(remit.url + '/');
    assert.equal(response.status(), 200);
    assert.equal(await page.title(), 'Payments for Salesforce · Remit');
    assert.match(await page.locator('.sandbox-notice').innerText(), /Sandbox mode/);
    assert.equal(await page.locator('h1').innerText(), 'Payments, straight from Salesforce');
    // The stylesheet loaded: the header carries the brand colour.
    const headerColour = await page.locator('.site-header').evaluate((el) => getComputedStyle(el).backgroundColor);
    assert.equal(headerColour, 'rgb(29, 78, 216)');
    await page.screenshot({ path: join(screenshotDir, `home-${name}.png`), fullPage: true });
  }
  await page.close();
});

test('an unknown address shows the branded 404 page', async () => {
  const page = await browser.context.newPage();
  const response = await page.goto(remit.url + '/no/such/page');
  assert.equal(response.status(), 404);
  assert.equal(await page.locator('h1').innerText(), 'Page not found');
  await page.screenshot({ path: join(screenshotDir, 'not-found-desktop.png') });
  await page.close();
});

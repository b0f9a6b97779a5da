'use strict';
// The ?url= guard's decisions, with an injected resolver: nothing here opens a connection or
// sends a DNS query (check() only resolves and decides; fetching is tested in
// server-url.test.js, inside a network namespace that has only loopback).

const test = require('node:test');
const assert = require('node:assert/strict');
const { refusalReason } = require('../../js/server/address-policy');
const { createGuard } = require('../../js/server/url-fetch');
const { classify } = require('../../js/server/core/errors');
const choriRest = require('../../js/server/protocols/chori-rest');

/** The HTTP status today's REST API answers `err` with. */
const restStatus = (err) => choriRest.errorAnswer(classify(err)).status;

/** A resolver from a table; any other name fails like NXDOMAIN, and every lookup is recorded. */
function fakeResolver(table) {
  const asked = [];
  const resolve = async (hostname) => {
    asked.push(hostname);
    const addresses = table[hostname];
    if (!addresses) throw Object.assign(new Error(`queryA ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
    return addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  };
  return { resolve, asked };
}

test('non-public addresses are refused, with the reason', () => {
  const refused = {
    '127.0.0.1': /loopback/,
    '127.255.0.9': /loopback/,
    '10.0.0.1': /private, 10\.0\.0\.0\/8/,
    '172.16.0.1': /private/,
    '192.168.1.20': /private/,
    '169.254.169.254': /link-local \(cloud metadata\)/,
    '100.100.100.200': /carrier-grade NAT/,
    '0.0.0.0': /this network/,
    '224.0.0.1': /multicast/,
    '255.255.255.255': /reserved/,
    '::1': /loopback/,
    '::': /unspecified/,
    '::ffff:127.0.0.1': /loopback, 127\.0\.0\.0\/8, as 127\.0\.0\.1 inside IPv6/,
    '::ffff:a9fe:a9fe': /link-local.*as 169\.254\.169\.254 inside IPv6/,
    '64:ff9b::a00:1': /private.*as 10\.0\.0\.1 inside IPv6/,
    '2002:7f00:1::1': /loopback.*as 127\.0\.0\.1 inside IPv6/,
    'fd00:ec2::254': /unique local/,
    'fe80::1': /link-local/,
    'ff02::1': /multicast/,
    '2001:db8::1': /documentation/,
    'not-an-ip': /not an IP address/,
  };
  for (const [address, reason] of Object.entries(refused)) assert.match(refusalReason(address) ?? 'allowed', reason, address);
  for (const address of ['8.8.8.8', '1.1.1.1', '93.184.216.34', '2606:4700:4700::1111', '::ffff:8.8.8.8', '64:ff9b::808:808']) {
    assert.equal(refusalReason(address), null, address);
  }
});

test('the guard refuses 127.0.0.1, 10.0.0.1, 169.254.169.254 and loopback in any spelling, without DNS', async () => {
  const { resolve, asked } = fakeResolver({});
  const check = createGuard({ resolve });
  const urls = [
    'http://127.0.0.1/image.jpg',
    'http://10.0.0.1/image.jpg',
    'http://169.254.169.254/latest/meta-data/',
    'http://[::1]:8080/',
    'http://[::ffff:127.0.0.1]/',
    'http://2130706433/', // 127.0.0.1 as one number
    'http://0x7f.1/', // and in hex
    'https://0.0.0.0/',
  ];
  for (const url of urls) {
    await assert.rejects(check(url), (err) => {
      assert.equal(err.code, 'CHORI_URL_FORBIDDEN', url);
      assert.equal(restStatus(err), 403);
      assert.match(err.message, /server-side request forgery/);
      return true;
    });
  }
  assert.deepEqual(asked, [], 'IP literals are never resolved');
});

test('a hostname that resolves to loopback or private space is refused after resolution', async () => {
  const { resolve } = fakeResolver({
    'loopback.example': ['127.0.0.1'],
    'metadata.example': ['169.254.169.254'],
    'v6.example': ['::1'],
    // One public and one private record: refused (the private one could be the one used).
    'mixed.example': ['93.184.216.34', '10.0.0.1'],
  });
  const check = createGuard({ resolve });
  for (const [host, address] of [['loopback.example', '127.0.0.1'], ['metadata.example', '169.254.169.254'], ['v6.example', '::1'], ['mixed.example', '10.0.0.1']]) {
    await assert.rejects(check(`http://${host}/x.jpg`), (err) => {
      assert.equal(err.code, 'CHORI_URL_FORBIDDEN');
      assert.ok(err.message.includes(`${host} resolves to ${address}`), err.message);
      return true;
    });
  }
});

test('a public hostname is allowed and pinned to the address that was checked', async () => {
  const { resolve } = fakeResolver({ 'images.example': ['93.184.216.34', '2606:2800:220:1::1'] });
  const target = await createGuard({ resolve })('https://images.example/cat.jpg?size=2');
  assert.equal(target.address, '93.184.216.34');
  assert.equal(target.family, 4);
  assert.equal(target.url.href, 'https://images.example/cat.jpg?size=2');
});

test('--allow-private-urls lets private addresses through; other schemes never pass', async () => {
  const { resolve } = fakeResolver({ 'loopback.example': ['127.0.0.1'] });
  const open = createGuard({ resolve, allowPrivate: true });
  assert.equal((await open('http://loopback.example/')).address, '127.0.0.1');
  assert.equal((await open('http://10.0.0.1/')).address, '10.0.0.1');
  for (const url of ['file:///etc/passwd', 'ftp://127.0.0.1/x', 'gopher://127.0.0.1/', 'data:image/png;base64,AAAA', 'not a url', '/relative.jpg']) {
    await assert.rejects(open(url), { code: 'CHORI_URL_INVALID' }, url);
  }
});

test('a name that does not resolve is CHORI_URL_FETCH (502)', async () => {
  const { resolve } = fakeResolver({});
  await assert.rejects(createGuard({ resolve })('http://nowhere.example/'), (err) => {
    assert.equal(err.code, 'CHORI_URL_FETCH');
    assert.equal(restStatus(err), 502);
    assert.match(err.message, /ENOTFOUND/);
    return true;
  });
});

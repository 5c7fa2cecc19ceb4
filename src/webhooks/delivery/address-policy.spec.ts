import { describe, expect, it, vi } from 'vitest';
import {
  classifyAddress,
  type LookupAll,
  resolveAllowedAddress,
  WebhookAddressError,
} from './address-policy.js';

function answers(...addresses: string[]): LookupAll {
  return () =>
    Promise.resolve(
      addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 })),
    );
}

async function refusal(promise: Promise<unknown>): Promise<WebhookAddressError> {
  const error: unknown = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(WebhookAddressError);
  return error as WebhookAddressError;
}

describe('classifyAddress', () => {
  it.each([
    ['0.0.0.0', 'unspecified address'],
    ['0.1.2.3', 'reserved address'],
    ['10.0.0.1', 'private address'],
    ['10.255.255.255', 'private address'],
    ['100.64.0.1', 'private address'],
    ['100.127.255.254', 'private address'],
    ['100.100.100.200', 'cloud metadata address'],
    ['127.0.0.1', 'loopback address'],
    ['127.255.0.9', 'loopback address'],
    ['169.254.169.254', 'cloud metadata address'],
    ['169.254.1.1', 'link-local address'],
    ['172.16.0.1', 'private address'],
    ['172.31.255.255', 'private address'],
    ['192.0.0.8', 'reserved address'],
    ['192.0.2.10', 'reserved address'],
    ['192.88.99.1', 'reserved address'],
    ['192.168.1.1', 'private address'],
    ['198.18.0.1', 'reserved address'],
    ['198.19.255.255', 'reserved address'],
    ['198.51.100.7', 'reserved address'],
    ['203.0.113.99', 'reserved address'],
    ['224.0.0.1', 'multicast address'],
    ['239.255.255.250', 'multicast address'],
    ['240.0.0.1', 'reserved address'],
    ['255.255.255.255', 'broadcast address'],
  ])('refuses the IPv4 address %s as a %s', (address, reason) => {
    expect(classifyAddress(address)).toEqual({ allowed: false, reason });
  });

  it.each([
    ['::', 'unspecified address'],
    ['::1', 'loopback address'],
    ['0:0:0:0:0:0:0:1', 'loopback address'],
    ['fc00::1', 'private address'],
    ['fd12:3456:789a::1', 'private address'],
    ['fd00:ec2::254', 'cloud metadata address'],
    ['fe80::1', 'link-local address'],
    ['febf:ffff::1', 'link-local address'],
    ['fec0::1', 'private address'],
    ['ff02::1', 'multicast address'],
    ['ff0e::101', 'multicast address'],
    ['2001:db8::1', 'reserved address'],
    ['2001:0db8:ffff:ffff::1', 'reserved address'],
    ['64:ff9b::808:808', 'reserved address'],
    ['64:ff9b::8.8.8.8', 'reserved address'],
    ['2001::1', 'reserved address'],
    ['100::1', 'reserved address'],
    ['3fff::1', 'reserved address'],
    // Outside 2000::/3 nothing is a public host yet.
    ['4000::1', 'reserved address'],
  ])('refuses the IPv6 address %s as a %s', (address, reason) => {
    expect(classifyAddress(address)).toEqual({ allowed: false, reason });
  });

  it.each([
    ['::ffff:127.0.0.1', 'loopback address'],
    ['::ffff:7f00:1', 'loopback address'],
    ['::ffff:10.1.2.3', 'private address'],
    ['::ffff:169.254.169.254', 'cloud metadata address'],
    ['0:0:0:0:0:ffff:c0a8:0101', 'private address'],
    ['::127.0.0.1', 'loopback address'],
    ['::a9fe:a9fe', 'cloud metadata address'],
    ['::0.0.0.2', 'reserved address'],
    ['2002:7f00:1::', 'loopback address'],
    ['2002:c0a8:0101::1', 'private address'],
  ])('judges the IPv4 address inside %s by the IPv4 rules (%s)', (address, reason) => {
    expect(classifyAddress(address)).toEqual({ allowed: false, reason });
  });

  it.each([
    '8.8.8.8',
    '1.1.1.1',
    '93.184.215.14',
    '100.63.255.255',
    '100.128.0.0',
    '172.15.255.255',
    '172.32.0.0',
    '192.0.1.1',
    '192.169.0.1',
    '198.17.255.255',
    '198.20.0.0',
    '223.255.255.255',
    '2606:4700:4700::1111',
    '2a00:1450:4001:82a::200e',
    '::ffff:8.8.8.8',
    '2002:808:808::1',
  ])('allows the public address %s', (address) => {
    expect(classifyAddress(address)).toEqual({ allowed: true });
  });

  it.each([
    'localhost',
    '',
    '127.1',
    '0x7f000001',
    '2130706433',
    '010.0.0.1',
    '[::1]',
    '1.2.3.4.5',
    '::ffff:999.0.0.1',
  ])('refuses %j, which is not an IP literal', (address) => {
    expect(classifyAddress(address)).toEqual({ allowed: false, reason: 'invalid IP address' });
  });

  it('refuses an IPv6 address with a zone index, which names one of our interfaces', () => {
    expect(classifyAddress('fe80::1%eth0')).toEqual({ allowed: false, reason: 'scoped address' });
  });
});

describe('resolveAllowedAddress', () => {
  it('judges an IP literal host without a lookup', async () => {
    const lookup = vi.fn(answers('8.8.8.8'));

    await expect(
      resolveAllowedAddress('1.1.1.1', { allowPrivate: false, lookup }),
    ).resolves.toEqual({ address: '1.1.1.1', family: 4 });
    expect(lookup).not.toHaveBeenCalled();
  });

  it('takes a bracketed IPv6 host as the literal inside the brackets', async () => {
    await expect(
      resolveAllowedAddress('[2606:4700:4700::1111]', { allowPrivate: false }),
    ).resolves.toEqual({ address: '2606:4700:4700::1111', family: 6 });

    const error = await refusal(resolveAllowedAddress('[::1]', { allowPrivate: false }));
    expect(error.problem).toBe('refused');
    expect(error.message).toBe('::1 is a loopback address');
  });

  it('refuses a private literal, naming it and why', async () => {
    const error = await refusal(resolveAllowedAddress('169.254.169.254', { allowPrivate: false }));

    expect(error.problem).toBe('refused');
    expect(error.message).toBe('169.254.169.254 is a cloud metadata address');
  });

  it('returns the first address of a name whose addresses are all public', async () => {
    const lookup = vi.fn(answers('2606:4700:4700::1111', '1.1.1.1'));

    await expect(
      resolveAllowedAddress('hooks.example.com', { allowPrivate: false, lookup }),
    ).resolves.toEqual({ address: '2606:4700:4700::1111', family: 6 });
    expect(lookup).toHaveBeenCalledExactlyOnceWith('hooks.example.com');
  });

  it('refuses a name that resolves to a loopback address', async () => {
    const error = await refusal(
      resolveAllowedAddress('localhost', { allowPrivate: false, lookup: answers('127.0.0.1') }),
    );

    expect(error.problem).toBe('refused');
    expect(error.message).toBe('localhost resolves to 127.0.0.1, a loopback address');
  });

  it.each([
    [['93.184.215.14', '10.0.0.5'], '10.0.0.5, a private address'],
    [['10.0.0.5', '93.184.215.14'], '10.0.0.5, a private address'],
    [['2606:4700:4700::1111', '::'], '::, an unspecified address'],
  ])('refuses a name resolving to %j: one private address is enough', async (addresses, detail) => {
    const error = await refusal(
      resolveAllowedAddress('rebind.example.com', {
        allowPrivate: false,
        lookup: answers(...addresses),
      }),
    );

    expect(error.message).toBe(`rebind.example.com resolves to ${detail}`);
  });

  it('allows private addresses, literal or resolved, when allowPrivate is set', async () => {
    await expect(resolveAllowedAddress('[::1]', { allowPrivate: true })).resolves.toEqual({
      address: '::1',
      family: 6,
    });
    await expect(
      resolveAllowedAddress('hooks.example.test', {
        allowPrivate: true,
        lookup: answers('127.0.0.1', '8.8.8.8'),
      }),
    ).resolves.toEqual({ address: '127.0.0.1', family: 4 });
  });

  it('reports a name that does not resolve, with the resolver error code', async () => {
    const lookup: LookupAll = () =>
      Promise.reject(
        Object.assign(new Error('getaddrinfo ENOTFOUND nowhere.test'), { code: 'ENOTFOUND' }),
      );

    const error = await refusal(
      resolveAllowedAddress('nowhere.test', { allowPrivate: false, lookup }),
    );

    expect(error.problem).toBe('unresolved');
    expect(error.message).toBe('nowhere.test could not be resolved (ENOTFOUND)');
  });

  it('reports a name that resolves to no address at all', async () => {
    const error = await refusal(
      resolveAllowedAddress('empty.test', { allowPrivate: true, lookup: answers() }),
    );

    expect(error.problem).toBe('unresolved');
    expect(error.message).toBe('empty.test resolves to no address');
  });

  it('refuses a resolver answer that is not an IP address', async () => {
    const error = await refusal(
      resolveAllowedAddress('odd.test', { allowPrivate: false, lookup: answers('not-an-address') }),
    );

    expect(error.message).toBe('odd.test resolves to not-an-address, an invalid IP address');
  });

  it('refuses an empty host', async () => {
    const error = await refusal(resolveAllowedAddress('', { allowPrivate: true }));

    expect(error.problem).toBe('refused');
  });
});

import { lookup } from 'node:dns/promises';
import { isIP, isIPv4, isIPv6 } from 'node:net';

/**
 * Which addresses a customer's webhook may reach. A webhook URL is chosen by a customer but
 * fetched from inside our network, so without this policy it could aim our workers at
 * loopback services, the private network or a cloud metadata endpoint (server-side request
 * forgery). Only addresses that are globally routable pass.
 */

export type AddressVerdict = { allowed: true } | { allowed: false; reason: string };

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** Every address of a name, in the resolver's order (as `dns.promises.lookup` with `all`). */
export type LookupAll = (
  hostname: string,
) => Promise<readonly { address: string; family: number }[]>;

/** Why a host cannot be used: `refused` by the policy, or `unresolved` (perhaps for now). */
export type WebhookAddressProblem = 'refused' | 'unresolved';

/** A host a webhook must not be sent to, or one that could not be resolved. */
export class WebhookAddressError extends Error {
  override readonly name = 'WebhookAddressError';

  constructor(
    readonly problem: WebhookAddressProblem,
    message: string,
  ) {
    super(message);
  }
}

const LOOPBACK = 'loopback address';
const PRIVATE = 'private address';
const LINK_LOCAL = 'link-local address';
const CLOUD_METADATA = 'cloud metadata address';
const UNSPECIFIED = 'unspecified address';
const MULTICAST = 'multicast address';
const BROADCAST = 'broadcast address';
const RESERVED = 'reserved address';
const NOT_AN_ADDRESS = 'invalid IP address';
const SCOPED = 'scoped address';

interface Rule {
  network: Uint8Array;
  prefixLength: number;
  reason: string;
}

/** The first matching rule gives the reason, so the narrower ranges come first. */
const IPV4_RULES: readonly Rule[] = rules(parseIPv4, [
  // AWS, GCP, Azure, Oracle, DigitalOcean... and Alibaba Cloud (inside the CGNAT range).
  ['169.254.169.254/32', CLOUD_METADATA],
  ['100.100.100.200/32', CLOUD_METADATA],
  ['0.0.0.0/32', UNSPECIFIED],
  ['255.255.255.255/32', BROADCAST],
  // "This network": Linux connects 0.x.y.z to the local host.
  ['0.0.0.0/8', RESERVED],
  ['10.0.0.0/8', PRIVATE],
  // Shared address space of carrier-grade NAT: private to the provider's network.
  ['100.64.0.0/10', PRIVATE],
  ['127.0.0.0/8', LOOPBACK],
  ['169.254.0.0/16', LINK_LOCAL],
  ['172.16.0.0/12', PRIVATE],
  ['192.0.0.0/24', RESERVED],
  ['192.0.2.0/24', RESERVED],
  ['192.88.99.0/24', RESERVED],
  ['192.168.0.0/16', PRIVATE],
  ['198.18.0.0/15', RESERVED],
  ['198.51.100.0/24', RESERVED],
  ['203.0.113.0/24', RESERVED],
  ['224.0.0.0/4', MULTICAST],
  ['240.0.0.0/4', RESERVED],
]);

const IPV6_RULES: readonly Rule[] = rules(parseIPv6, [
  ['::/128', UNSPECIFIED],
  ['::1/128', LOOPBACK],
  // AWS's instance metadata service over IPv6 (Nitro).
  ['fd00:ec2::254/128', CLOUD_METADATA],
  ['fc00::/7', PRIVATE],
  ['fe80::/10', LINK_LOCAL],
  // Site-local, deprecated but still routed inside some networks.
  ['fec0::/10', PRIVATE],
  ['ff00::/8', MULTICAST],
  // NAT64 prefixes reach IPv4 hosts through a translator of the network we run in.
  ['64:ff9b::/96', RESERVED],
  ['64:ff9b:1::/48', RESERVED],
  ['100::/64', RESERVED],
  // Teredo tunnels, benchmarking and documentation ranges.
  ['2001::/32', RESERVED],
  ['2001:2::/48', RESERVED],
  ['2001:db8::/32', RESERVED],
  ['3fff::/20', RESERVED],
]);

/** Every IPv6 address outside it is unassigned or special-purpose: none is a public host. */
const GLOBAL_UNICAST = rule(parseIPv6, '2000::/3');
const IPV4_MAPPED = rule(parseIPv6, '::ffff:0:0/96');
const IPV4_COMPATIBLE = rule(parseIPv6, '::/96');
const SIX_TO_FOUR = rule(parseIPv6, '2002::/16');

/** Judges an IP literal (v4 or v6, without brackets); anything else is refused. */
export function classifyAddress(address: string): AddressVerdict {
  if (isIPv4(address)) {
    return classifyIPv4(parseIPv4(address));
  }
  if (!isIPv6(address)) {
    return refused(NOT_AN_ADDRESS);
  }
  if (address.includes('%')) {
    // A zone index names one of our own interfaces: never a destination on the internet.
    return refused(SCOPED);
  }
  return classifyIPv6(parseIPv6(address));
}

/**
 * Resolves a webhook's host once and returns the address to connect to. Every address of a
 * name is judged, not only the first: the name's owner decides which one a later lookup puts
 * first, so one private address among public ones is enough to refuse it.
 * `allowPrivate` (development and tests only) turns the policy off.
 */
export async function resolveAllowedAddress(
  hostname: string,
  options: { allowPrivate: boolean; lookup?: LookupAll },
): Promise<ResolvedAddress> {
  const host =
    hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
  const literal = ipFamily(host);
  if (literal !== undefined) {
    const verdict = options.allowPrivate ? ALLOWED : classifyAddress(host);
    if (!verdict.allowed) {
      throw new WebhookAddressError('refused', `${host} is ${withArticle(verdict.reason)}`);
    }
    return { address: host, family: literal };
  }
  if (host === '') {
    throw new WebhookAddressError('refused', 'the URL has no host');
  }
  const addresses = await lookupAll(host, options.lookup ?? systemLookup);
  for (const { address } of addresses) {
    const verdict = options.allowPrivate ? ALLOWED : classifyAddress(address);
    if (!verdict.allowed) {
      throw new WebhookAddressError(
        'refused',
        `${host} resolves to ${address}, ${withArticle(verdict.reason)}`,
      );
    }
  }
  const [first] = addresses;
  const family = first === undefined ? undefined : ipFamily(first.address);
  if (first === undefined || family === undefined) {
    throw new WebhookAddressError('unresolved', `${host} resolves to no address`);
  }
  return { address: first.address, family };
}

const ALLOWED: AddressVerdict = { allowed: true };

function systemLookup(hostname: string): Promise<readonly { address: string; family: number }[]> {
  return lookup(hostname, { all: true, verbatim: true });
}

async function lookupAll(
  host: string,
  resolve: LookupAll,
): Promise<readonly { address: string; family: number }[]> {
  try {
    return await resolve(host);
  } catch (error) {
    const code =
      error instanceof Error && 'code' in error && typeof error.code === 'string'
        ? ` (${error.code})`
        : '';
    throw new WebhookAddressError('unresolved', `${host} could not be resolved${code}`);
  }
}

function ipFamily(address: string): 4 | 6 | undefined {
  const family = isIP(address);
  return family === 4 || family === 6 ? family : undefined;
}

function refused(reason: string): AddressVerdict {
  return { allowed: false, reason };
}

function withArticle(reason: string): string {
  return `${/^[aeiou]/i.test(reason) ? 'an' : 'a'} ${reason}`;
}

function classifyIPv4(bytes: Uint8Array): AddressVerdict {
  const match = IPV4_RULES.find((candidate) => matches(candidate, bytes));
  return match ? refused(match.reason) : ALLOWED;
}

function classifyIPv6(bytes: Uint8Array): AddressVerdict {
  const match = IPV6_RULES.find((candidate) => matches(candidate, bytes));
  if (match) {
    return refused(match.reason);
  }
  // Addresses that carry an IPv4 address reach that IPv4 host: judge it by the IPv4 rules.
  if (matches(IPV4_MAPPED, bytes) || matches(IPV4_COMPATIBLE, bytes)) {
    return classifyIPv4(bytes.subarray(12, 16));
  }
  if (matches(SIX_TO_FOUR, bytes)) {
    return classifyIPv4(bytes.subarray(2, 6));
  }
  return matches(GLOBAL_UNICAST, bytes) ? ALLOWED : refused(RESERVED);
}

function matches(rule: Rule, bytes: Uint8Array): boolean {
  if (rule.network.length !== bytes.length) {
    return false;
  }
  for (let bit = 0; bit < rule.prefixLength; bit += 8) {
    const index = bit / 8;
    const remaining = Math.min(8, rule.prefixLength - bit);
    const mask = (0xff << (8 - remaining)) & 0xff;
    if (((bytes[index] ?? 0) & mask) !== ((rule.network[index] ?? 0) & mask)) {
      return false;
    }
  }
  return true;
}

function rules(
  parse: (address: string) => Uint8Array,
  table: readonly (readonly [cidr: string, reason: string])[],
): Rule[] {
  return table.map(([cidr, reason]) => rule(parse, cidr, reason));
}

function rule(parse: (address: string) => Uint8Array, cidr: string, reason = ''): Rule {
  const [network = '', prefixLength = ''] = cidr.split('/');
  return { network: parse(network), prefixLength: Number(prefixLength), reason };
}

/** Bytes of an address `isIPv4` accepted (four decimal parts, no leading zeros). */
function parseIPv4(address: string): Uint8Array {
  return Uint8Array.from(address.split('.').map(Number));
}

/** Bytes of an address `isIPv6` accepted (`::` shorthand, a trailing dotted IPv4 part). */
function parseIPv6(address: string): Uint8Array {
  let text = address;
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted?.[1] !== undefined) {
    const [a = 0, b = 0, c = 0, d = 0] = parseIPv4(dotted[1]);
    const tail = `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
    text = text.slice(0, dotted.index) + tail;
  }
  const [head = '', rest] = text.split('::');
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = rest === undefined || rest === '' ? [] : rest.split(':');
  const zeros: string[] = Array.from(
    { length: 8 - headGroups.length - tailGroups.length },
    () => '0',
  );
  const groups = [...headGroups, ...(rest === undefined ? [] : zeros), ...tailGroups];
  const bytes = new Uint8Array(16);
  groups.forEach((group, index) => {
    const value = Number.parseInt(group, 16);
    bytes[index * 2] = value >> 8;
    bytes[index * 2 + 1] = value & 0xff;
  });
  return bytes;
}

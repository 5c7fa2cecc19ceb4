import { describe, expect, it } from 'vitest';
import { isSameOriginRequest } from './same-origin.js';

describe('isSameOriginRequest', () => {
  it('trusts the browser when it marks the request same-origin', () => {
    expect(isSameOriginRequest({ 'sec-fetch-site': 'same-origin' })).toBe(true);
  });

  it('refuses every other fetch site, even with a matching Origin', () => {
    for (const site of ['same-site', 'cross-site', 'none']) {
      expect(
        isSameOriginRequest({
          'sec-fetch-site': site,
          host: 'app.example',
          origin: 'https://app.example',
        }),
      ).toBe(false);
    }
  });

  it('compares Origin with the Host the request was sent to, default ports included', () => {
    expect(isSameOriginRequest({ host: 'app.example', origin: 'https://app.example' })).toBe(true);
    expect(isSameOriginRequest({ host: 'app.example:443', origin: 'https://app.example' })).toBe(
      true,
    );
    expect(isSameOriginRequest({ host: '127.0.0.1:3000', origin: 'http://127.0.0.1:3000' })).toBe(
      true,
    );
  });

  it('refuses another host, another port, an opaque origin and a request without Origin', () => {
    expect(isSameOriginRequest({ host: 'app.example', origin: 'https://evil.example' })).toBe(
      false,
    );
    expect(isSameOriginRequest({ host: 'app.example', origin: 'https://app.example.evil' })).toBe(
      false,
    );
    expect(isSameOriginRequest({ host: '127.0.0.1:3000', origin: 'http://127.0.0.1:3001' })).toBe(
      false,
    );
    expect(isSameOriginRequest({ host: 'app.example', origin: 'null' })).toBe(false);
    expect(isSameOriginRequest({ host: 'app.example' })).toBe(false);
    expect(isSameOriginRequest({ origin: 'https://app.example' })).toBe(false);
  });
});

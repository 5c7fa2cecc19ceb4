/**
 * The only hosts a customer's `subdomain` may name: Exotel's API clusters (Singapore, Mumbai).
 * Anything else would let a customer make this server send requests, with their credentials,
 * wherever they like.
 */
export const EXOTEL_API_HOSTS = ['api.exotel.com', 'api.in.exotel.com'] as const;

export function isExotelApiHost(host: string): boolean {
  return (EXOTEL_API_HOSTS as readonly string[]).includes(host);
}

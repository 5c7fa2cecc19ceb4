/** Longest piece of a vendor's own text quoted in an error message. */
const VENDOR_TEXT_LIMIT = 200;

/**
 * Text a vendor sent, made safe to quote in an error message (and so in logs): our key
 * removed should the vendor echo it, control characters and line breaks turned into single
 * spaces, cut short so a whole vendor body never reaches a log line.
 */
export function vendorText(text: string, apiKey = ''): string {
  const redacted = apiKey === '' ? text : text.split(apiKey).join('[redacted]');
  let flat = '';
  for (const character of redacted) {
    const code = character.charCodeAt(0);
    flat += code < 0x20 || code === 0x7f ? ' ' : character;
  }
  const oneLine = flat.replace(/\s+/g, ' ').trim();
  return oneLine.length > VENDOR_TEXT_LIMIT ? `${oneLine.slice(0, VENDOR_TEXT_LIMIT)}…` : oneLine;
}

import { extname } from 'node:path';

const BY_EXTENSION: Record<string, string> = {
  '.mp3': 'audio/mpeg',
  '.wav': 'audio/wav',
  '.ogg': 'audio/ogg',
  '.m4a': 'audio/mp4',
  '.webm': 'audio/webm',
  '.gz': 'application/gzip',
  '.json': 'application/json',
};

/** The content type of a stored object, from its key's extension. */
export function contentTypeOf(key: string): string {
  return BY_EXTENSION[extname(key).toLowerCase()] ?? 'application/octet-stream';
}

/** Recording file extensions we keep, by the content type a carrier answers with. */
const AUDIO_EXTENSIONS: Record<string, string> = {
  'audio/mpeg': 'mp3',
  'audio/mp3': 'mp3',
  'audio/wav': 'wav',
  'audio/x-wav': 'wav',
  'audio/wave': 'wav',
  'audio/ogg': 'ogg',
  'audio/mp4': 'm4a',
  'audio/x-m4a': 'm4a',
  'audio/webm': 'webm',
};

/**
 * The extension of a recording copy: the source URL's when it is a known audio one, else the
 * response's content type's, else mp3 (what Exotel records).
 */
export function recordingExtension(sourceUrl: string, contentType: string | undefined): string {
  let pathExtension = '';
  try {
    pathExtension = extname(new URL(sourceUrl).pathname).slice(1).toLowerCase();
  } catch {
    // an unparseable URL has no extension to offer
  }
  if (Object.values(AUDIO_EXTENSIONS).includes(pathExtension)) {
    return pathExtension;
  }
  const type = contentType?.split(';')[0]?.trim().toLowerCase();
  return (type === undefined ? undefined : AUDIO_EXTENSIONS[type]) ?? 'mp3';
}

export type PlainObject = Record<string, unknown>;

export function isPlainObject(value: unknown): value is PlainObject {
  return (
    typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date)
  );
}

/**
 * `base` with `patch` laid over it: nested objects merge, everything else (arrays too) replaces,
 * and so do objects under a key listed in `opaque` (free-form values such as a JSON Schema).
 */
export function deepMerge<T extends PlainObject>(
  base: T,
  patch: PlainObject | undefined,
  opaque: ReadonlySet<string> = new Set(),
): T {
  if (!patch) {
    return structuredClone(base);
  }
  const merged: PlainObject = structuredClone(base);
  for (const [key, value] of Object.entries(patch)) {
    if (value === undefined || value === null) {
      continue;
    }
    const current = merged[key];
    merged[key] =
      isPlainObject(current) && isPlainObject(value) && !opaque.has(key)
        ? deepMerge(current, value, opaque)
        : structuredClone(value);
  }
  return merged as T;
}

/** JSON data of a validated DTO: class instances become plain objects, undefined fields vanish. */
export function toPlainData<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

/**
 * Dotted `$set` paths for a partial update, so a deep patch is one atomic update that keeps
 * every field it does not name. Keys listed in `opaque` are replaced whole.
 */
export function toSetPaths(
  prefix: string,
  patch: PlainObject,
  opaque: ReadonlySet<string> = new Set(),
): PlainObject {
  const paths: PlainObject = {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === undefined) {
      continue;
    }
    const path = `${prefix}.${key}`;
    if (isPlainObject(value) && !opaque.has(key)) {
      Object.assign(paths, toSetPaths(path, value, opaque));
    } else {
      paths[path] = value;
    }
  }
  return paths;
}

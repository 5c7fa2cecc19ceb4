import { Header } from '@nestjs/common';

declare const jsonShape: unique symbol;

/**
 * A response body already serialized as JSON (e.g. kept so in a cache), sent as it is: the
 * route declares it with `@SendsJsonText()`, and Fastify then passes the string through
 * instead of serializing it again. `T` is the shape it holds, for readers and types only.
 */
export type JsonText<T> = string & { readonly [jsonShape]: T };

export function toJsonText<T>(value: T): JsonText<T> {
  return JSON.stringify(value) as JsonText<T>;
}

/** The route returns a JsonText: sent with the JSON content type, without re-serializing. */
export const SendsJsonText = (): MethodDecorator =>
  Header('Content-Type', 'application/json; charset=utf-8');

/** One dispatched server-sent event (the fields a chat stream uses). */
export interface ServerSentEvent {
  /** `message` unless the server named the event. */
  event: string;
  /** The event's `data` lines joined with `\n`. */
  data: string;
}

/** A line (or an event's data) longer than the parser accepts: the stream is not a sane one. */
export class ServerSentEventTooLongError extends Error {
  constructor(limit: number) {
    super(`a server-sent event line or event is longer than ${limit} characters`);
    this.name = 'ServerSentEventTooLongError';
  }
}

const LINE_FEED = 10;
const CARRIAGE_RETURN = 13;

/**
 * Incremental `text/event-stream` parser (the WHATWG rules): bytes may be split anywhere, even
 * inside a UTF-8 character or between the CR and LF of a line ending. An event still open when
 * the stream ends is dropped, as the standard says, so a cut-off stream never yields half an
 * event.
 */
export class ServerSentEventParser {
  private readonly decoder = new TextDecoder('utf-8');
  private pendingLine = '';
  /** The previous chunk ended with CR: a LF opening the next one belongs to that line ending. */
  private skipLeadingLineFeed = false;
  private dataLines: string[] = [];
  private dataLength = 0;
  private eventName = '';

  constructor(private readonly maxLineLength = 1024 * 1024) {}

  /** Feeds the next bytes; returns the events they completed. */
  push(bytes: Uint8Array): ServerSentEvent[] {
    let text = this.decoder.decode(bytes, { stream: true });
    if (this.skipLeadingLineFeed && text.length > 0) {
      if (text.charCodeAt(0) === LINE_FEED) {
        text = text.slice(1);
      }
      this.skipLeadingLineFeed = false;
    }
    const events: ServerSentEvent[] = [];
    let lineStart = 0;
    for (let index = 0; index < text.length; index++) {
      const code = text.charCodeAt(index);
      if (code !== LINE_FEED && code !== CARRIAGE_RETURN) {
        continue;
      }
      const line = this.pendingLine + text.slice(lineStart, index);
      this.pendingLine = '';
      this.checkLength(line.length);
      const event = this.acceptLine(line);
      if (event) {
        events.push(event);
      }
      if (code === CARRIAGE_RETURN) {
        if (index + 1 === text.length) {
          this.skipLeadingLineFeed = true;
        } else if (text.charCodeAt(index + 1) === LINE_FEED) {
          index++;
        }
      }
      lineStart = index + 1;
    }
    this.pendingLine += text.slice(lineStart);
    this.checkLength(this.pendingLine.length);
    return events;
  }

  private acceptLine(line: string): ServerSentEvent | undefined {
    if (line === '') {
      return this.dispatch();
    }
    if (line.startsWith(':')) {
      return undefined;
    }
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) {
      value = value.slice(1);
    }
    if (field === 'data') {
      this.dataLength += value.length + 1;
      this.checkLength(this.dataLength);
      this.dataLines.push(value);
    } else if (field === 'event') {
      this.eventName = value;
    }
    return undefined;
  }

  private dispatch(): ServerSentEvent | undefined {
    const event =
      this.dataLines.length === 0
        ? undefined
        : { event: this.eventName || 'message', data: this.dataLines.join('\n') };
    this.dataLines = [];
    this.dataLength = 0;
    this.eventName = '';
    return event;
  }

  private checkLength(length: number): void {
    if (length > this.maxLineLength) {
      throw new ServerSentEventTooLongError(this.maxLineLength);
    }
  }
}

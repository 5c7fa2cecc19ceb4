/** Shortest piece worth a speech request of its own (shorter ones wait for more text). */
const MIN_SENTENCE_CHARACTERS = 12;
/** Longest piece held back waiting for a sentence end (a run-on reply still starts speaking). */
const MAX_HELD_CHARACTERS = 240;
// A sentence ends at . ! ? (or their CJK/Devanagari forms) followed by whitespace; a comma,
// semicolon or colon also ends a piece once the text held is long.
const SENTENCE_END = /[.!?।。！？]+["')\]]*\s/g;
const CLAUSE_END = /[,;:]\s/g;

/**
 * Cuts streamed reply text into sentences as it arrives, so each can be spoken while the model
 * is still writing the next. Abbreviation-like short pieces ("Dr. ") are held for more text.
 */
export class SentenceSplitter {
  private held = '';

  /** Adds text; returns the sentences now complete. */
  push(text: string): string[] {
    this.held += text;
    const sentences: string[] = [];
    for (;;) {
      const end = this.nextEnd();
      if (end === undefined) {
        break;
      }
      const sentence = this.held.slice(0, end).trim();
      this.held = this.held.slice(end);
      if (sentence !== '') {
        sentences.push(sentence);
      }
    }
    return sentences;
  }

  /** The reply is complete: whatever is held. */
  flush(): string | undefined {
    const rest = this.held.trim();
    this.held = '';
    return rest === '' ? undefined : rest;
  }

  private nextEnd(): number | undefined {
    for (const match of this.held.matchAll(SENTENCE_END)) {
      const end = match.index + match[0].length;
      if (this.held.slice(0, end).trim().length >= MIN_SENTENCE_CHARACTERS) {
        return end;
      }
    }
    if (this.held.length > MAX_HELD_CHARACTERS) {
      let clause: number | undefined;
      for (const match of this.held.matchAll(CLAUSE_END)) {
        clause = match.index + match[0].length;
      }
      if (clause !== undefined && clause >= MIN_SENTENCE_CHARACTERS) {
        return clause;
      }
      const space = this.held.lastIndexOf(' ', MAX_HELD_CHARACTERS);
      return space > 0 ? space + 1 : MAX_HELD_CHARACTERS;
    }
    return undefined;
  }
}

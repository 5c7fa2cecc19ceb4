import { describe, expect, it } from 'vitest';
import { SentenceSplitter } from './sentence-splitter.js';

function split(pieces: string[]): string[] {
  const splitter = new SentenceSplitter();
  const sentences = pieces.flatMap((piece) => splitter.push(piece));
  const rest = splitter.flush();
  return rest === undefined ? sentences : [...sentences, rest];
}

describe('SentenceSplitter', () => {
  it('gives each sentence as soon as the text after its end arrives', () => {
    const splitter = new SentenceSplitter();
    expect(splitter.push('Hello there, how are')).toEqual([]);
    expect(splitter.push(' you today? I am')).toEqual(['Hello there, how are you today?']);
    expect(splitter.flush()).toBe('I am');
  });

  it('cuts sentences that arrive one character at a time', () => {
    const text = 'Your order shipped yesterday. It arrives on Monday! Anything else?';
    expect(split([...text])).toEqual([
      'Your order shipped yesterday.',
      'It arrives on Monday!',
      'Anything else?',
    ]);
  });

  it('holds a short piece such as a title with its sentence', () => {
    expect(split(['Dr. Rao will see you at noon. ', 'Bye.'])).toEqual([
      'Dr. Rao will see you at noon.',
      'Bye.',
    ]);
  });

  it('cuts a long run-on reply at a clause so speech can start', () => {
    const long = `${'word '.repeat(40)}and then, ${'more '.repeat(30)}`;
    const [first] = new SentenceSplitter().push(long);
    expect(first).toBeDefined();
    expect(first!.length).toBeLessThanOrEqual(240);
  });

  it('ends sentences in Hindi (danda)', () => {
    expect(split(['आपका ऑर्डर भेज दिया गया है। ', 'धन्यवाद'])).toEqual([
      'आपका ऑर्डर भेज दिया गया है।',
      'धन्यवाद',
    ]);
  });

  it('gives nothing for empty or blank text', () => {
    expect(split(['', '   '])).toEqual([]);
  });
});

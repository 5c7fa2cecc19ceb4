import { describe, expect, it } from 'vitest';
import { type BackupProgress, createProgressPrinter } from './backup-progress.js';

function run(interactive: boolean, events: BackupProgress[], plainEvery?: number): string {
  let output = '';
  const print = createProgressPrinter(
    { interactive, write: (text) => (output += text) },
    plainEvery,
  );
  events.forEach(print);
  return output;
}

const step = (done: number, finished = false): BackupProgress => ({
  action: 'restore',
  collection: 'calllogs',
  done,
  total: 25_000,
  finished,
});

describe('progress printer', () => {
  it('rewrites one line on a terminal and ends it when the collection is done', () => {
    const output = run(true, [step(1000), step(2000), step(25_000, true)]);
    expect(output).toBe(
      '\rrestore calllogs: 1,000/25,000 documents (4%)\u001b[K' +
        '\rrestore calllogs: 2,000/25,000 documents (8%)\u001b[K' +
        '\rrestore calllogs: 25,000/25,000 documents (100%)\u001b[K\n',
    );
  });

  it('prints plain lines every N documents elsewhere, and the final count', () => {
    const events = Array.from({ length: 24 }, (_unused, index) => step((index + 1) * 1000));
    const output = run(false, [...events, step(25_000, true)], 10_000);
    expect(output.split('\n').filter(Boolean)).toEqual([
      'restore calllogs: 10,000/25,000 documents (40%)',
      'restore calllogs: 20,000/25,000 documents (80%)',
      'restore calllogs: 25,000/25,000 documents (100%)',
    ]);
    expect(output).not.toContain('\r');
  });

  it('shows an empty collection as complete', () => {
    const output = run(false, [
      { action: 'backup', collection: 'migrations_lock', done: 0, total: 0, finished: true },
    ]);
    expect(output).toBe('backup migrations_lock: 0/0 documents (100%)\n');
  });
});

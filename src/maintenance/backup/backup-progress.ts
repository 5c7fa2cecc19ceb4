export interface BackupProgress {
  action: 'backup' | 'restore';
  collection: string;
  done: number;
  /** Expected documents (an estimate while backing up a collection that is being written to). */
  total: number;
  finished: boolean;
}

export type BackupProgressListener = (progress: BackupProgress) => void;

export interface ProgressOutput {
  /** A terminal, where one status line can be rewritten in place. */
  interactive: boolean;
  write(text: string): void;
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024 * 1024) {
    return `${(bytes / 1024).toFixed(1)} KiB`;
  }
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

const CLEAR_TO_END_OF_LINE = '\u001b[K';

function describe(progress: BackupProgress): string {
  const total = Math.max(progress.total, progress.done);
  const percent = total === 0 ? 100 : Math.floor((progress.done / total) * 100);
  return `${progress.action} ${progress.collection}: ${progress.done.toLocaleString('en-US')}/${total.toLocaleString('en-US')} documents (${percent}%)`;
}

/**
 * Shows progress on a terminal as one line rewritten in place, and elsewhere (CI, log files)
 * as plain lines every `plainEvery` documents, so logs stay short and readable.
 */
export function createProgressPrinter(
  output: ProgressOutput,
  plainEvery = 10_000,
): BackupProgressListener {
  const lastPrinted = new Map<string, number>();
  return (progress) => {
    const key = `${progress.action}:${progress.collection}`;
    if (output.interactive) {
      output.write(
        `\r${describe(progress)}${CLEAR_TO_END_OF_LINE}${progress.finished ? '\n' : ''}`,
      );
      return;
    }
    const printedAt = lastPrinted.get(key) ?? 0;
    if (progress.finished || progress.done - printedAt >= plainEvery) {
      lastPrinted.set(key, progress.done);
      output.write(`${describe(progress)}\n`);
    }
  };
}

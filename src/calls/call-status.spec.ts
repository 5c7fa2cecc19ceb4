import { describe, expect, it } from 'vitest';
import {
  ACTIVE_CALL_STATUSES,
  fromExotelStatus,
  isSuccessful,
  isTerminal,
  statusesBefore,
} from './call-status.js';

describe('call status rules', () => {
  it('lets a terminal status replace any non-terminal one but nothing replace a terminal one', () => {
    expect(statusesBefore('completed')).toEqual(['initiated', 'ringing', 'in-progress']);
    expect(statusesBefore('ringing')).toEqual(['initiated']);
    expect(statusesBefore('initiated')).toEqual([]);
    expect(ACTIVE_CALL_STATUSES).toEqual(['initiated', 'ringing', 'in-progress']);
  });

  it('never lets a late ringing overwrite in-progress', () => {
    expect(statusesBefore('ringing')).not.toContain('in-progress');
  });

  it("maps Exotel's statuses, in any case, and refuses unknown ones", () => {
    expect(fromExotelStatus('Completed')).toBe('completed');
    expect(fromExotelStatus('no-answer')).toBe('no-answer');
    expect(fromExotelStatus('queued')).toBe('initiated');
    expect(fromExotelStatus('cancelled')).toBe('canceled');
    expect(fromExotelStatus('exploded')).toBeUndefined();
  });

  it('counts only calls that ended normally as successful', () => {
    expect(isSuccessful('completed')).toBe(true);
    expect(isSuccessful('agent-ended')).toBe(true);
    expect(isSuccessful('busy')).toBe(false);
    expect(isTerminal('busy')).toBe(true);
    expect(isTerminal('in-progress')).toBe(false);
  });
});

import { describe, expect, it } from 'vitest';
import {
  fillPlaceholders,
  missingVariables,
  placeholdersIn,
  variableNameProblem,
  variablesProblem,
  withVariables,
} from './call-variables.js';

describe('call variables', () => {
  it('finds each placeholder once, in order, with or without spaces inside the braces', () => {
    expect(
      placeholdersIn('Hi {{name}}, {{ amount }} due {{name}}', 'Bye {{ name}} {{date }}'),
    ).toEqual(['name', 'amount', 'date']);
    expect(placeholdersIn('no placeholders', undefined)).toEqual([]);
    // Not placeholders: single braces, empty, or names that are not names.
    expect(placeholdersIn('{name} {{}} {{1abc}} {{a-b}}')).toEqual([]);
  });

  it('lists what a call is missing, and fills prompt and first message', () => {
    const config = {
      prompt: 'Remind {{name}} of {{amount}}.',
      firstMessage: 'Hello {{name}}',
      voice: 'x',
    };
    expect(missingVariables(config, { name: 'Asha' })).toEqual(['amount']);
    expect(missingVariables(config, { name: 'Asha', amount: '' })).toEqual([]);
    const filled = withVariables(config, { name: 'Asha', amount: '₹1,200' });
    expect(filled).toEqual({
      prompt: 'Remind Asha of ₹1,200.',
      firstMessage: 'Hello Asha',
      voice: 'x',
    });
    // The agent's own config is not changed.
    expect(config.prompt).toBe('Remind {{name}} of {{amount}}.');
  });

  it('leaves out a placeholder without a value rather than speaking braces', () => {
    expect(fillPlaceholders('Hello {{name}}!', {})).toBe('Hello !');
    expect(withVariables({ prompt: 'Hi {{ who }}' }).prompt).toBe('Hi ');
    // A value is inserted as text, never read as a placeholder again.
    expect(fillPlaceholders('{{a}}', { a: '{{b}}', b: 'x' })).toBe('{{b}}');
  });

  it('accepts only flat maps of short strings with proper names', () => {
    expect(variablesProblem({ name: 'Asha', due_date: '5 Dec' })).toBeUndefined();
    expect(variablesProblem([])).toMatch(/object/);
    expect(variablesProblem(null)).toMatch(/object/);
    expect(variablesProblem({ amount: 5 })).toMatch(/amount must be a string/);
    expect(variablesProblem({ nested: { a: 'b' } })).toMatch(/string/);
    expect(variablesProblem({ 'first name': 'x' })).toMatch(/letters, digits and _/);
    expect(variablesProblem({ $where: 'x' })).toMatch(/letters, digits and _/);
    expect(variablesProblem({ long: 'x'.repeat(501) })).toMatch(/at most 500/);
    expect(
      variablesProblem(Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`v${i}`, 'x']))),
    ).toMatch(/at most 50/);
    expect(variableNameProblem('customerName')).toBeUndefined();
    expect(variableNameProblem('9lives')).toBeDefined();
    expect(variableNameProblem('a'.repeat(65))).toBeDefined();
  });
});

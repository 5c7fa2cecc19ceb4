import { registerDecorator, type ValidationOptions } from 'class-validator';

/** Bounds of a call's `variables`: a flat map of short strings. */
export const CALL_VARIABLE_LIMITS = { maxKeys: 50, maxNameLength: 64, maxValueLength: 500 };

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const PLACEHOLDER = /\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g;

export type CallVariables = Record<string, string>;

/** The agent texts that may hold `{{name}}` placeholders. */
export interface TemplatedConfig {
  prompt: string;
  firstMessage?: string;
}

/** Why `name` cannot name a variable, or undefined when it can. */
export function variableNameProblem(name: string): string | undefined {
  return NAME.test(name) && name.length <= CALL_VARIABLE_LIMITS.maxNameLength
    ? undefined
    : `a variable name must be letters, digits and _ (not starting with a digit), at most ${CALL_VARIABLE_LIMITS.maxNameLength} characters`;
}

/** Why `value` is not a valid variables map, or undefined when it is. */
export function variablesProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return 'must be an object of strings';
  }
  const entries = Object.entries(value);
  if (entries.length > CALL_VARIABLE_LIMITS.maxKeys) {
    return `may have at most ${CALL_VARIABLE_LIMITS.maxKeys} names`;
  }
  for (const [name, text] of entries) {
    const nameProblem = variableNameProblem(name);
    if (nameProblem) {
      return `"${name.slice(0, 80)}": ${nameProblem}`;
    }
    if (typeof text !== 'string') {
      return `${name} must be a string`;
    }
    if (text.length > CALL_VARIABLE_LIMITS.maxValueLength) {
      return `${name} may be at most ${CALL_VARIABLE_LIMITS.maxValueLength} characters`;
    }
  }
  return undefined;
}

/** class-validator decorator for a `variables` map. */
export function IsCallVariables(options?: ValidationOptions): PropertyDecorator {
  return (target, propertyName) => {
    registerDecorator({
      name: 'isCallVariables',
      target: target.constructor,
      propertyName: String(propertyName),
      options,
      validator: {
        validate: (value: unknown) => variablesProblem(value) === undefined,
        defaultMessage: (args) =>
          `${args?.property ?? 'variables'} ${variablesProblem(args?.value) ?? ''}`,
      },
    });
  };
}

/** The placeholder names used in `texts`, each once, in order of appearance. */
export function placeholdersIn(...texts: Array<string | undefined>): string[] {
  const names = new Set<string>();
  for (const text of texts) {
    for (const match of text?.matchAll(PLACEHOLDER) ?? []) {
      names.add(match[1] ?? '');
    }
  }
  return [...names];
}

/** The placeholders of the agent's texts that `variables` gives no value for. */
export function missingVariables(config: TemplatedConfig, variables: CallVariables = {}): string[] {
  return placeholdersIn(config.prompt, config.firstMessage).filter(
    (name) => !Object.hasOwn(variables, name),
  );
}

/** `text` with each placeholder replaced by its value (an unknown one by `fallback`). */
export function fillPlaceholders(text: string, variables: CallVariables, fallback = ''): string {
  return text.replace(PLACEHOLDER, (_whole, name: string) =>
    Object.hasOwn(variables, name) ? (variables[name] ?? fallback) : fallback,
  );
}

/** The config with its prompt and first message filled (a copy; other fields shared). */
export function withVariables<T extends TemplatedConfig>(
  config: T,
  variables: CallVariables = {},
): T {
  const filled = { ...config, prompt: fillPlaceholders(config.prompt, variables) };
  if (config.firstMessage !== undefined) {
    filled.firstMessage = fillPlaceholders(config.firstMessage, variables);
  }
  return filled;
}

import { describe, expect, it } from 'vitest';
import type {
  LanguageModel,
  LanguageModelEvent,
  LanguageModelRequest,
} from '../../voice/ports/language-model.port.js';
import { VendorError } from '../../voice/ports/vendor-error.js';
import {
  analyzeCall,
  CallAnalysisError,
  type CallAnalysisInput,
  DEFAULT_SUMMARY_PROMPT,
  MAX_SUMMARY_CHARACTERS,
  NOTHING_SAID_SUMMARY,
} from './call-analysis.js';

const USAGE = { promptTokens: 420, completionTokens: 64 };

/** A language model that replays scripted events and records every request it gets. */
class ScriptedModel implements LanguageModel {
  readonly vendor = 'scripted';
  readonly requests: LanguageModelRequest[] = [];

  constructor(
    private readonly events: LanguageModelEvent[],
    private readonly failure?: Error,
  ) {}

  async *stream(request: LanguageModelRequest): AsyncIterable<LanguageModelEvent> {
    this.requests.push(request);
    for (const event of this.events) {
      await Promise.resolve();
      if (request.signal?.aborted) {
        return;
      }
      yield event;
    }
    if (this.failure) {
      throw this.failure;
    }
  }

  get request(): LanguageModelRequest {
    const [request] = this.requests;
    if (!request) {
      throw new Error('the model was not asked');
    }
    return request;
  }
}

const done = (finishReason = 'tool_calls'): LanguageModelEvent => ({
  type: 'done',
  finishReason,
  usage: USAGE,
  estimated: false,
});

const toolCall = (args: unknown, name = 'submit_analysis'): LanguageModelEvent => ({
  type: 'tool-call',
  call: { id: 'call_1', name, arguments: typeof args === 'string' ? args : JSON.stringify(args) },
});

const answering = (args: unknown) => new ScriptedModel([toolCall(args), done()]);

const SCHEMA = {
  type: 'object',
  properties: {
    customerName: { type: 'string' },
    appointmentDay: { type: 'string', enum: ['monday', 'tuesday'] },
  },
  required: ['customerName'],
  additionalProperties: false,
};

const CONVERSATION: CallAnalysisInput['messages'] = [
  { role: 'assistant', content: 'Hello! How can I help you today?' },
  { role: 'user', content: 'Hi, this is Asha. I want to book a service on Monday.' },
  { role: 'assistant', content: 'Booked for Monday, Asha.' },
];

const input = (overrides: Partial<CallAnalysisInput> = {}): CallAnalysisInput => ({
  llm: { model: 'gpt-4', temperature: 0.7 },
  messages: CONVERSATION,
  ...overrides,
});

const FULL_ANALYSIS = {
  summaryPrompt: 'Summarise in one sentence.',
  successRubric: 'Success means an appointment was booked.',
  structuredDataSchema: SCHEMA,
};

async function analysisError(promise: Promise<unknown>): Promise<CallAnalysisError> {
  const error: unknown = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  if (!(error instanceof CallAnalysisError)) {
    throw new Error(`expected a CallAnalysisError, got ${String(error)}`);
  }
  return error;
}

describe('analyzeCall', () => {
  describe('the request', () => {
    it('asks once, at temperature 0, with instructions, the transcript and one tool', async () => {
      const model = answering({
        summary: 'Asha booked a Monday service.',
        successEvaluation: { success: true, reason: 'Booked.' },
        structuredData: { customerName: 'Asha', appointmentDay: 'monday' },
      });
      await analyzeCall(model, input({ analysis: FULL_ANALYSIS }));

      expect(model.requests).toHaveLength(1);
      const request = model.request;
      expect(request).toMatchObject({ model: 'gpt-4', temperature: 0, maxTokens: 800 });
      const [system, transcript, ...rest] = request.messages;
      expect(rest).toEqual([]);
      expect(system?.role).toBe('system');
      expect(system?.content).toContain('Summarise in one sentence.');
      expect(system?.content).toContain('Success means an appointment was booked.');
      expect(system?.content).toContain('submit_analysis exactly once');
      expect(transcript).toEqual({
        role: 'user',
        content:
          'Agent: Hello! How can I help you today?\n' +
          'User: Hi, this is Asha. I want to book a service on Monday.\n' +
          'Agent: Booked for Monday, Asha.',
      });
    });

    it('gives the tool a schema holding the agent’s schema, all parts required', async () => {
      const model = answering({
        summary: 'S',
        successEvaluation: { success: true, reason: 'R' },
        structuredData: { customerName: 'Asha' },
      });
      await analyzeCall(model, input({ analysis: FULL_ANALYSIS }));
      expect(model.request.tools).toEqual([
        {
          name: 'submit_analysis',
          description: expect.any(String),
          parameters: {
            type: 'object',
            properties: {
              summary: expect.objectContaining({ type: 'string' }),
              successEvaluation: expect.objectContaining({
                type: 'object',
                properties: {
                  success: expect.objectContaining({ type: 'boolean' }),
                  reason: expect.objectContaining({ type: 'string' }),
                },
                required: ['success', 'reason'],
              }),
              structuredData: SCHEMA,
            },
            required: ['summary', 'successEvaluation', 'structuredData'],
            additionalProperties: false,
          },
        },
      ]);
    });

    it('asks only for a summary, by the default prompt, without an analysis section', async () => {
      const model = answering({ summary: 'S' });
      await analyzeCall(model, input());
      expect(model.request.messages[0]?.content).toContain(DEFAULT_SUMMARY_PROMPT);
      expect(model.request.tools?.[0]?.parameters).toEqual({
        type: 'object',
        properties: { summary: expect.objectContaining({ type: 'string' }) },
        required: ['summary'],
        additionalProperties: false,
      });
    });

    it('passes the signal and the token budget given', async () => {
      const controller = new AbortController();
      const model = answering({ summary: 'S' });
      await analyzeCall(model, input({ signal: controller.signal }), { maxTokens: 300 });
      expect(model.request.signal).toBe(controller.signal);
      expect(model.request.maxTokens).toBe(300);
    });

    it('cuts a long transcript in the middle, keeping its beginning and end', async () => {
      const messages: CallAnalysisInput['messages'] = [
        { role: 'user', content: `OPENING ${'a'.repeat(500)}` },
        { role: 'assistant', content: 'm'.repeat(2000) },
        { role: 'user', content: `${'z'.repeat(500)} CLOSING` },
      ];
      const model = answering({ summary: 'S' });
      await analyzeCall(model, input({ messages }), { maxTranscriptCharacters: 1000 });

      const transcript = model.request.messages[1]?.content ?? '';
      expect(transcript.length).toBeLessThanOrEqual(1000);
      const full = `User: OPENING ${'a'.repeat(500)}\nAgent: ${'m'.repeat(2000)}\nUser: ${'z'.repeat(500)} CLOSING`;
      const [head, omitted, tail] = transcript.split(/\n\[… (\d+) characters omitted …\]\n/);
      expect(head && full.startsWith(head)).toBe(true);
      expect(tail && full.endsWith(tail)).toBe(true);
      expect(tail?.endsWith('zzz CLOSING')).toBe(true);
      expect(Number(omitted)).toBe(full.length - (head?.length ?? 0) - (tail?.length ?? 0));
      expect(Math.abs((head?.length ?? 0) - (tail?.length ?? 0))).toBeLessThanOrEqual(1);
    });

    it('never splits an emoji when it cuts', async () => {
      const messages: CallAnalysisInput['messages'] = [{ role: 'user', content: '😀'.repeat(300) }];
      const model = answering({ summary: 'S' });
      await analyzeCall(model, input({ messages }), { maxTranscriptCharacters: 201 });
      const transcript = model.request.messages[1]?.content ?? '';
      expect(transcript).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])/);
      expect(transcript).not.toMatch(/(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/);
    });
  });

  describe('the answer', () => {
    it('returns summary, success evaluation, structured data and usage', async () => {
      const model = answering({
        summary: '  Asha booked a Monday service.  ',
        successEvaluation: { success: true, reason: 'An appointment was booked.' },
        structuredData: { customerName: 'Asha', appointmentDay: 'monday' },
      });
      await expect(analyzeCall(model, input({ analysis: FULL_ANALYSIS }))).resolves.toEqual({
        summary: 'Asha booked a Monday service.',
        successEvaluation: { success: true, reason: 'An appointment was booked.' },
        structuredData: { customerName: 'Asha', appointmentDay: 'monday' },
        usage: USAGE,
      });
    });

    it('accepts a plain-text answer as the summary when no rubric or schema is set', async () => {
      const model = new ScriptedModel([
        { type: 'text', text: 'Asha booked ' },
        { type: 'text', text: 'a service.' },
        done('stop'),
      ]);
      await expect(
        analyzeCall(model, input({ analysis: { summaryPrompt: 'Be brief.' } })),
      ).resolves.toEqual({ summary: 'Asha booked a service.', usage: USAGE });
    });

    it('refuses a plain-text answer when a rubric asks for a judgement', async () => {
      const model = new ScriptedModel([{ type: 'text', text: 'It went well.' }, done('stop')]);
      const error = await analysisError(
        analyzeCall(model, input({ analysis: { successRubric: 'Booked.' } })),
      );
      expect(error.kind).toBe('invalid-answer');
      expect(error.message).toBe('the model did not call submit_analysis');
      expect(error.usage).toEqual(USAGE);
    });

    it('cuts a summary longer than 4000 characters', async () => {
      const model = answering({ summary: 's'.repeat(5000) });
      const result = await analyzeCall(model, input());
      expect(result.summary).toBe('s'.repeat(MAX_SUMMARY_CHARACTERS));
    });

    it('refuses arguments that are not JSON, saying when the token limit cut them', async () => {
      const truncated = new ScriptedModel([toolCall('{"summary": "Asha boo'), done('length')]);
      const error = await analysisError(analyzeCall(truncated, input()));
      expect(error.kind).toBe('invalid-answer');
      expect(error.message).toBe(
        'the submit_analysis arguments are not JSON (the answer was cut at its token limit)',
      );
      expect(error.usage).toEqual(USAGE);
    });

    it('refuses structured data that does not fit the agent’s schema, naming the field', async () => {
      const model = answering({
        summary: 'S',
        successEvaluation: { success: true, reason: 'R' },
        structuredData: { customerName: 'Asha', appointmentDay: 'sunday' },
      });
      const error = await analysisError(analyzeCall(model, input({ analysis: FULL_ANALYSIS })));
      expect(error.kind).toBe('invalid-answer');
      expect(error.message).toBe(
        'the submit_analysis arguments do not fit the schema: ' +
          'structuredData.appointmentDay must be equal to one of the allowed values',
      );
    });

    it('refuses fields the agent’s schema does not allow', async () => {
      const model = answering({
        summary: 'S',
        structuredData: { customerName: 'Asha', creditCard: '4111' },
      });
      const error = await analysisError(
        analyzeCall(model, input({ analysis: { structuredDataSchema: SCHEMA } })),
      );
      expect(error.message).toContain(
        'structuredData must NOT have additional properties ("creditCard")',
      );
    });

    it('refuses an answer without the required summary', async () => {
      const model = answering({ successEvaluation: { success: false, reason: 'No booking.' } });
      const error = await analysisError(
        analyzeCall(model, input({ analysis: { successRubric: 'Booked.' } })),
      );
      expect(error.kind).toBe('invalid-answer');
      expect(error.message).toBe(
        "the submit_analysis arguments do not fit the schema: the arguments must have required property 'summary'",
      );
    });

    it('refuses a blank summary', async () => {
      const error = await analysisError(analyzeCall(answering({ summary: '   ' }), input()));
      expect(error.message).toBe('the summary is empty');
    });

    it('refuses a call to another tool', async () => {
      const model = new ScriptedModel([toolCall({ reason: 'done' }, 'end_call'), done()]);
      const error = await analysisError(analyzeCall(model, input()));
      expect(error.kind).toBe('invalid-answer');
      expect(error.message).toBe('the model called "end_call" instead of submit_analysis');
    });

    it('refuses submit_analysis called twice', async () => {
      const model = new ScriptedModel([
        toolCall({ summary: 'A' }),
        toolCall({ summary: 'B' }),
        done(),
      ]);
      const error = await analysisError(analyzeCall(model, input()));
      expect(error.message).toBe('the model called submit_analysis 2 times, not once');
    });
  });

  describe('schemas seen before', () => {
    it('still checks answers against the right schema after more than 100 other schemas', async () => {
      const schemaFor = (index: number) => ({
        type: 'object',
        properties: { [`field${index}`]: { type: 'integer' } },
        required: [`field${index}`],
      });
      for (let index = 0; index <= 100; index += 1) {
        const model = answering({ summary: 'S', structuredData: { [`field${index}`]: index } });
        await analyzeCall(model, input({ analysis: { structuredDataSchema: schemaFor(index) } }));
      }
      const wrong = answering({ summary: 'S', structuredData: { field0: 'zero' } });
      const error = await analysisError(
        analyzeCall(wrong, input({ analysis: { structuredDataSchema: schemaFor(0) } })),
      );
      expect(error.message).toContain('structuredData.field0 must be integer');
    });
  });

  describe('failures', () => {
    it('reports a vendor failure as kind "vendor" with the VendorError as its cause', async () => {
      const vendorError = new VendorError('openai', 'rate-limited', 'HTTP 429', 429);
      const model = new ScriptedModel([], vendorError);
      const error = await analysisError(analyzeCall(model, input()));
      expect(error.kind).toBe('vendor');
      expect(error.message).toBe('openai: HTTP 429');
      expect(error.cause).toBe(vendorError);
      expect(error.usage).toBeUndefined();
    });

    it('reports a stream that ends without finishing as a vendor failure', async () => {
      const model = new ScriptedModel([toolCall({ summary: 'S' })]);
      const error = await analysisError(analyzeCall(model, input()));
      expect(error.kind).toBe('vendor');
    });

    it('rejects with the abort reason when the caller aborts', async () => {
      const controller = new AbortController();
      const model = new ScriptedModel([toolCall({ summary: 'S' }), done()]);
      const analysis = analyzeCall(model, input({ signal: controller.signal }));
      controller.abort(new Error('shutting down'));
      await expect(analysis).rejects.toThrow('shutting down');
    });
  });

  describe('a call where the caller said nothing', () => {
    it.each<[string, CallAnalysisInput['messages']]>([
      ['no messages', []],
      ['only the agent’s greeting', [{ role: 'assistant', content: 'Hello?' }]],
      ['blank caller turns', [{ role: 'user', content: '  ' }]],
    ])('resolves without asking the model: %s', async (_case, messages) => {
      const model = answering({ summary: 'S' });
      await expect(
        analyzeCall(model, input({ messages, analysis: FULL_ANALYSIS })),
      ).resolves.toEqual({
        summary: NOTHING_SAID_SUMMARY,
        usage: { promptTokens: 0, completionTokens: 0 },
      });
      expect(model.requests).toEqual([]);
    });
  });
});

import { Inject, Injectable } from '@nestjs/common';
import type { AgentConfig } from '../agents/schemas/agent-config.schema.js';
import type { AppConfig, VendorEndpoint } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.module.js';
import type { ConversationVendors } from './conversation/voice-conversation.js';
import type { LanguageModel } from './ports/language-model.port.js';
import type { SpeechToText } from './ports/speech-to-text.port.js';
import type { TextToSpeech } from './ports/text-to-speech.port.js';
import { VendorError } from './ports/vendor-error.js';
import { CartesiaTextToSpeech } from './providers/cartesia/cartesia-text-to-speech.js';
import { DeepgramSpeechToText } from './providers/deepgram/deepgram-speech-to-text.js';
import { ElevenLabsTextToSpeech } from './providers/elevenlabs/elevenlabs-text-to-speech.js';
import { OpenAiLanguageModel } from './providers/openai/openai-language-model.js';
import { OpenAiTextToSpeech } from './providers/openai/openai-text-to-speech.js';

type VoiceProvider = AgentConfig['voice']['provider'];

/** A vendor without a platform key: every use fails the way a refused key does, with the setting to fix. */
function unconfigured(vendor: string, setting: string): VendorError {
  return new VendorError(vendor, 'unauthorized', `${setting} is not set`);
}

/**
 * The vendor adapters, built once from the platform keys, and the set a call's agent uses:
 * Deepgram listens, the OpenAI-compatible model answers, the agent's voice provider speaks.
 */
@Injectable()
export class VoiceProviders {
  private readonly stt: SpeechToText;
  private readonly llm: LanguageModel;
  private readonly tts: Record<VoiceProvider, TextToSpeech>;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    const { deepgram, openai, elevenlabs, cartesia, vendorTimeoutMs: timeout } = config.voice;
    this.stt = withKey(deepgram, 'deepgram', 'DEEPGRAM_API_KEY', sttWithout, (apiKey) => {
      return new DeepgramSpeechToText({
        apiKey,
        baseUrl: deepgram.baseUrl,
        connectTimeoutMs: timeout,
      });
    });
    this.llm = withKey(openai, 'openai', 'OPENAI_API_KEY', llmWithout, (apiKey) => {
      return new OpenAiLanguageModel({
        apiKey,
        baseUrl: openai.baseUrl,
        firstTokenTimeoutMs: timeout,
        idleTimeoutMs: timeout,
      });
    });
    this.tts = {
      openai: withKey(openai, 'openai', 'OPENAI_API_KEY', ttsWithout, (apiKey) => {
        return new OpenAiTextToSpeech({
          apiKey,
          baseUrl: openai.baseUrl,
          firstAudioTimeoutMs: timeout,
          idleTimeoutMs: timeout,
        });
      }),
      elevenlabs: streamingVoice(
        ElevenLabsTextToSpeech,
        elevenlabs,
        ['elevenlabs', 'ELEVENLABS_API_KEY'],
        timeout,
      ),
      cartesia: streamingVoice(
        CartesiaTextToSpeech,
        cartesia,
        ['cartesia', 'CARTESIA_API_KEY'],
        timeout,
      ),
    };
  }

  forAgent(agent: AgentConfig): ConversationVendors {
    return { stt: this.stt, llm: this.llm, tts: this.tts[agent.voice.provider] };
  }
}

/** A WebSocket speech vendor (ElevenLabs, Cartesia): same settings, one class each. */
function streamingVoice(
  Adapter: typeof ElevenLabsTextToSpeech | typeof CartesiaTextToSpeech,
  endpoint: VendorEndpoint,
  [vendor, setting]: [string, string],
  timeout: number,
): TextToSpeech {
  return withKey(endpoint, vendor, setting, ttsWithout, (apiKey) => {
    return new Adapter({
      apiKey,
      baseUrl: endpoint.baseUrl,
      connectTimeoutMs: timeout,
      firstAudioTimeoutMs: timeout,
    });
  });
}

function withKey<T>(
  endpoint: VendorEndpoint,
  vendor: string,
  setting: string,
  without: (vendor: string, setting: string) => T,
  build: (apiKey: string) => T,
): T {
  return endpoint.apiKey === undefined ? without(vendor, setting) : build(endpoint.apiKey);
}

function sttWithout(vendor: string, setting: string): SpeechToText {
  return { vendor, open: () => Promise.reject(unconfigured(vendor, setting)) };
}

function llmWithout(vendor: string, setting: string): LanguageModel {
  return {
    vendor,
    stream: () => ({
      [Symbol.asyncIterator]: () => ({
        next: () => Promise.reject(unconfigured(vendor, setting)),
      }),
    }),
  };
}

function ttsWithout(vendor: string, setting: string): TextToSpeech {
  return {
    vendor,
    start: (_options, handlers) => {
      queueMicrotask(() => {
        handlers.onError(unconfigured(vendor, setting));
      });
      return {
        push: () => undefined,
        end: () => undefined,
        cancel: () => undefined,
        characters: 0,
      };
    },
  };
}

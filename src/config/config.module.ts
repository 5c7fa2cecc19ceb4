import { type DynamicModule, Global, Logger, Module } from '@nestjs/common';
import { type AppConfig, loadConfig } from './app-config.js';

export const APP_CONFIG = Symbol('APP_CONFIG');

@Global()
@Module({})
export class ConfigModule {
  /** Uses the given configuration (tests, CLI) or reads and validates the environment. */
  static forRoot(config?: AppConfig): DynamicModule {
    return {
      module: ConfigModule,
      providers: [
        {
          provide: APP_CONFIG,
          useFactory: (): AppConfig => {
            if (config) {
              return config;
            }
            const loaded = loadConfig();
            const logger = new Logger('Config');
            loaded.warnings.forEach((warning) => logger.warn(warning));
            return loaded.config;
          },
        },
      ],
      exports: [APP_CONFIG],
    };
  }
}

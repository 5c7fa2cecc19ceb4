import { Logger } from '@nestjs/common';
import { createApp } from './app.factory.js';
import { ConfigValidationError, loadConfig } from './config/app-config.js';

async function bootstrap(): Promise<void> {
  const logger = new Logger('Bootstrap');
  let loaded;
  try {
    loaded = loadConfig();
  } catch (error) {
    if (error instanceof ConfigValidationError) {
      logger.error(error.message);
      process.exit(1);
    }
    throw error;
  }
  loaded.warnings.forEach((warning) => logger.warn(warning));
  const { config } = loaded;
  const app = await createApp({ config });
  await app.listen({ port: config.port, host: config.host });
  const docs = config.apiDocsEnabled ? ` (docs: ${config.publicBaseUrl}/docs)` : '';
  logger.log(`API listening on ${config.publicBaseUrl}/api/v1${docs}`);
}

void bootstrap();

import { Global, Module } from '@nestjs/common';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.module.js';
import type { ObjectStorage } from './object-storage.js';
import { createRecordingStorage } from './storage.factory.js';

export const RECORDING_STORAGE = Symbol('RECORDING_STORAGE');

/** The object storage of recordings, chosen by STORAGE_DRIVER. */
@Global()
@Module({
  providers: [
    {
      provide: RECORDING_STORAGE,
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig): Promise<ObjectStorage> =>
        createRecordingStorage(config.storage),
    },
  ],
  exports: [RECORDING_STORAGE],
})
export class StorageModule {}

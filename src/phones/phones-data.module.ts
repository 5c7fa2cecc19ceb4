import { Module } from '@nestjs/common';
import { MongooseModule } from '@nestjs/mongoose';
import { PhonesRepository } from './phones.repository.js';
import { Phone, PhoneSchema } from './schemas/phone.schema.js';

/** Phone storage, shared by the phones API, agents (delete checks) and calls. */
@Module({
  imports: [MongooseModule.forFeature([{ name: Phone.name, schema: PhoneSchema }])],
  providers: [PhonesRepository],
  exports: [PhonesRepository],
})
export class PhonesDataModule {}

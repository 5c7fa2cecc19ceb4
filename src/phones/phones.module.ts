import { Module } from '@nestjs/common';
import { AgentsDataModule } from '../agents/agents-data.module.js';
import { PhonesDataModule } from './phones-data.module.js';
import { PhonesService } from './phones.service.js';

@Module({
  imports: [PhonesDataModule, AgentsDataModule],
  providers: [PhonesService],
  exports: [PhonesService, PhonesDataModule, AgentsDataModule],
})
export class PhonesModule {}

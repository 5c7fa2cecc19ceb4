import { Module } from '@nestjs/common';
import { PhonesDataModule } from '../phones/phones-data.module.js';
import { AgentsDataModule } from './agents-data.module.js';
import { AgentsService } from './agents.service.js';

@Module({
  imports: [AgentsDataModule, PhonesDataModule],
  providers: [AgentsService],
  exports: [AgentsService],
})
export class AgentsModule {}

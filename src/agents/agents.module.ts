import { Module } from '@nestjs/common';
import { PhonesDataModule } from '../phones/phones-data.module.js';
import { AgentsDataModule } from './agents-data.module.js';
import { AgentsController } from './agents.controller.js';
import { AgentsService } from './agents.service.js';

@Module({
  imports: [AgentsDataModule, PhonesDataModule],
  controllers: [AgentsController],
  providers: [AgentsService],
})
export class AgentsModule {}

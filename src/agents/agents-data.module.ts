import { Module } from '@nestjs/common';
import { MongooseModule } from '@nestjs/mongoose';
import { AgentsRepository } from './agents.repository.js';
import { Agent, AgentSchema } from './schemas/agent.schema.js';

/** Agent storage, shared by the agents API, phones and calls. */
@Module({
  imports: [MongooseModule.forFeature([{ name: Agent.name, schema: AgentSchema }])],
  providers: [AgentsRepository],
  exports: [AgentsRepository],
})
export class AgentsDataModule {}

// `npm run dev`: starts the API; when MONGODB_URI is unset and nothing answers on
// localhost:27017, first starts the embedded MongoDB-wire server there: on PostgreSQL
// (database ai_calling_platform_dev, kept between runs) when one answers, else on SQLite
// (data in .data/mongodb).
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import {
  chooseFerretdbBackend,
  portAnswers,
  postgresqlDatabaseUrl,
  projectRoot,
  startMongoServer,
} from './local-services.mjs';

const DEFAULT_PORT = 27017;
let mongo;

if (!process.env.MONGODB_URI && !(await portAnswers('127.0.0.1', DEFAULT_PORT))) {
  const dataDir = join(projectRoot, '.data', 'mongodb');
  const choice = await chooseFerretdbBackend();
  const postgresqlUrl =
    choice.backend === 'postgresql'
      ? postgresqlDatabaseUrl(choice.serverUrl, 'ai_calling_platform_dev')
      : undefined;
  console.error(
    `No MONGODB_URI and nothing on localhost:${DEFAULT_PORT}: starting the local MongoDB-wire server`,
  );
  mongo = await startMongoServer({ port: DEFAULT_PORT, dataDir, postgresqlUrl, stdio: 'inherit' });
  console.error(`local ${mongo.description} listening on 127.0.0.1:${DEFAULT_PORT}`);
} else {
  console.error(
    `MongoDB: ${process.env.MONGODB_URI ? 'MONGODB_URI' : `the server already on localhost:${DEFAULT_PORT}`}`,
  );
}

const migrate = spawn(process.execPath, [join(projectRoot, 'dist/src/cli.js'), 'migrate'], {
  stdio: 'inherit',
});
const migrated = await new Promise((resolveExit) => migrate.once('exit', resolveExit));
if (migrated !== 0) {
  console.error('migrations failed; not starting the API');
  await mongo?.stop();
  process.exit(1);
}

const api = spawn(process.execPath, [join(projectRoot, 'dist/src/main.js')], { stdio: 'inherit' });
const stop = (signal) => api.kill(signal);
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
api.once('exit', async (code) => {
  await mongo?.stop();
  process.exit(code ?? 0);
});

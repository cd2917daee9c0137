export { ConfigError, configFilePath, envBindings, type LoadConfigOptions, loadConfig } from './load.ts';
export { type AppConfig, ConfigSchema } from './schema.ts';

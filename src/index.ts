// The one public entry of the library: the module client, its models and errors, and the local hub.
export * from './client/errors';

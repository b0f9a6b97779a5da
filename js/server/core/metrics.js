'use strict';
// The server's metrics in Prometheus' text format (prom-client), on a registry of the server's own so
// that several servers in one process never share counters.

const client = require('prom-client');

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];

/** registry: the ModelRegistry, read at scrape time for queue depths. */
function createMetrics(registry) {
  const register = new client.Registry();
  client.collectDefaultMetrics({ register });
  const metric = (Type, config) => new Type({ registers: [register], ...config });
  return {
    register,
    requests: metric(client.Counter, {
      name: 'chori_http_requests_total',
      help: 'HTTP requests answered, by method, route and status',
      labelNames: ['method', 'route', 'status'],
    }),
    latency: metric(client.Histogram, {
      name: 'chori_http_request_duration_seconds',
      help: 'Time from a request arriving to its answer being sent, by route',
      labelNames: ['method', 'route'],
      buckets: LATENCY_BUCKETS,
    }),
    rejections: metric(client.Counter, {
      name: 'chori_http_errors_total',
      help: 'HTTP requests answered with an error, by route, status and CHORI_* code',
      labelNames: ['route', 'status', 'code'],
    }),
    inferenceLatency: metric(client.Histogram, {
      name: 'chori_inference_duration_seconds',
      help: 'Time from a prediction request arriving to its images being predicted (or defaulted), by model, whatever the protocol',
      labelNames: ['model'],
      buckets: LATENCY_BUCKETS,
    }),
    grpcRequests: metric(client.Counter, {
      name: 'chori_grpc_requests_total',
      help: 'gRPC calls answered (Open Inference Protocol), by RPC and status code',
      labelNames: ['rpc', 'code'],
    }),
    grpcLatency: metric(client.Histogram, {
      name: 'chori_grpc_request_duration_seconds',
      help: 'Time from a gRPC call arriving to its answer, by RPC',
      labelNames: ['rpc'],
      buckets: LATENCY_BUCKETS,
    }),
    batchSize: metric(client.Histogram, {
      name: 'chori_batch_size',
      help: 'Images per prediction request, by model',
      labelNames: ['model'],
      buckets: BATCH_BUCKETS,
    }),
    forwardBatchSize: metric(client.Histogram, {
      name: 'chori_forward_batch_size',
      help: 'Images per forward pass of the model, by model (above 1 only with --batch)',
      labelNames: ['model'],
      buckets: BATCH_BUCKETS,
    }),
    predictions: metric(client.Counter, {
      name: 'chori_predictions_total',
      help: 'Images predicted, by model and outcome (ok, error, default: the --slo-ms answer, deadline: 504)',
      labelNames: ['model', 'outcome'],
    }),
    queueDepth: metric(client.Gauge, {
      name: 'chori_queue_depth',
      help: 'Images in flight (admitted, not yet predicted), by model',
      labelNames: ['model'],
      collect() {
        for (const { name, inFlight } of registry.queueDepths()) this.set({ model: name }, inFlight);
      },
    }),
    modelLoad: metric(client.Gauge, {
      name: 'chori_model_load_seconds',
      help: 'Time the current version of each model took to load',
      labelNames: ['model'],
    }),
    modelVersion: metric(client.Gauge, {
      name: 'chori_model_version',
      help: 'The version of each model now serving (1 at start, +1 per reload)',
      labelNames: ['model'],
    }),
  };
}

module.exports = { createMetrics };

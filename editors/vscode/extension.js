// The Ratecard extension: starts `ratecard lsp` (standard input and output) for .rules files.
// Plain JavaScript, loaded as it is: there is no build step.
'use strict';

const vscode = require('vscode');
const { LanguageClient, TransportKind } = require('vscode-languageclient/node');

let client;

function serverOptions() {
  const settings = vscode.workspace.getConfiguration('ratecard');
  const command = settings.get('server.path') || 'ratecard';
  const args = settings.get('server.args') || ['lsp'];
  // TransportKind.stdio also passes `--stdio`, which `ratecard lsp` accepts.
  return { command, args, transport: TransportKind.stdio };
}

async function start() {
  const options = serverOptions();
  client = new LanguageClient('ratecard', 'Ratecard', options, {
    documentSelector: [
      { scheme: 'file', language: 'ratecard' },
      { scheme: 'untitled', language: 'ratecard' },
    ],
  });
  try {
    await client.start();
  } catch (error) {
    client = undefined;
    const shown = [options.command, ...options.args].join(' ');
    vscode.window.showErrorMessage(
      `Ratecard: could not start \`${shown}\` (${error.message || error}). Install it with ` +
        "`pip install 'ratecard[lsp]'`, or set `ratecard.server.path`.");
  }
}

async function stop() {
  if (client) {
    const running = client;
    client = undefined;
    await running.stop();
  }
}

async function restart() {
  await stop();
  await start();
}

function activate(context) {
  context.subscriptions.push(
    vscode.commands.registerCommand('ratecard.restartServer', restart),
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (event.affectsConfiguration('ratecard.server')) {
        restart();
      }
    }),
  );
  return start();
}

function deactivate() {
  return stop();
}

module.exports = { activate, deactivate };

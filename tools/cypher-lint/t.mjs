import { lintCypherQuery } from '@neo4j-cypher/language-support';
import { readFileSync } from 'node:fs';
const items = JSON.parse(readFileSync('/tmp/stmts.json','utf8'));
const t=Date.now(); const per=[];
for (const it of items) { const t0=performance.now(); lintCypherQuery(it.query, {parameters:Object.fromEntries(it.params.map(p=>[p,null]))}, {consoleCommandsEnabled:false}); per.push([Math.round(performance.now()-t0), it.query.length, it.name.slice(0,40)]); }
console.log('total', Date.now()-t);
if (process.env.V) per.forEach(p=>console.log(p.join(' ')));

console.log(performance.timeOrigin + performance.now());
